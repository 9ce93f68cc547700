package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteMarkdown writes the table's report: the run's parameters, the
// side-by-side throughput table with the ratio, the paper-shaped table of
// each system (ensemble size × write fraction), latency by operation type
// and the load generator's share of the CPU. Cells that could not run say
// why in numbered notes.
func WriteMarkdown(w io.Writer, t *Table) error { return writeMarkdown(w, t, true) }

func writeMarkdown(w io.Writer, t *Table, withMeta bool) error {
	b := &strings.Builder{}
	p := t.Params
	if withMeta {
		fmt.Fprintf(b, "commit `%s`, %s, started %s\n\n", t.Meta.Commit, t.Meta.Machine(), t.Meta.Started.Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(b, "sessions=%d outstanding=%d value=%d B znodes=%d warmup=%gs duration=%gs rate=%g",
		p.Sessions, p.Outstanding, p.ValueBytes, p.Znodes, p.WarmupSec, p.DurationSec, p.Rate)
	for _, n := range p.Notes {
		fmt.Fprintf(b, "; %s", n)
	}
	b.WriteString("\n\n")
	notes := &reportNotes{}

	sys := t.SystemNames()
	// Side by side, one row per (servers, writes).
	b.WriteString("| servers | writes |")
	for _, s := range sys {
		fmt.Fprintf(b, " %s ops/s |", s)
	}
	ratio := len(sys) >= 2
	if ratio {
		fmt.Fprintf(b, " %s / %s |", sys[0], sys[1])
	}
	for _, s := range sys {
		fmt.Fprintf(b, " %s p99 ms |", s)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", 2*len(sys)+boolInt(ratio)) + "\n")
	for _, n := range p.Servers {
		for _, f := range p.Writes {
			fmt.Fprintf(b, "| %d | %s |", n, fmtPct(f))
			for _, s := range sys {
				fmt.Fprintf(b, " %s |", cellOps(t.Find(s, n, f), notes))
			}
			if ratio {
				fmt.Fprintf(b, " %s |", ratioText(t.Find(sys[0], n, f), t.Find(sys[1], n, f)))
			}
			for _, s := range sys {
				c := t.Find(s, n, f)
				if c != nil && c.OK() {
					fmt.Fprintf(b, " %s |", fmtMs(c.All.P99))
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
	}

	// The paper's shape: one table per system.
	for _, s := range sys {
		fmt.Fprintf(b, "\n%s, ops/s by ensemble size (rows) and write fraction (columns):\n\n| servers |", s)
		for _, f := range p.Writes {
			fmt.Fprintf(b, " %s |", fmtPct(f))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(p.Writes)) + "\n")
		for _, n := range p.Servers {
			fmt.Fprintf(b, "| %d |", n)
			for _, f := range p.Writes {
				fmt.Fprintf(b, " %s |", cellOps(t.Find(s, n, f), notes))
			}
			b.WriteString("\n")
		}
	}

	// Latency by operation type.
	b.WriteString("\nLatency by operation (ms, from HDR histograms of every reply in the window):\n\n")
	b.WriteString("| system | servers | writes | op | count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range p.Servers {
		for _, f := range p.Writes {
			for _, s := range sys {
				c := t.Find(s, n, f)
				if c == nil || !c.OK() {
					continue
				}
				for _, op := range []struct {
					name string
					l    Latency
				}{{"getData", c.Read}, {"setData", c.Write}} {
					if op.l.Count == 0 {
						continue
					}
					fmt.Fprintf(b, "| %s | %d | %s | %s | %d | %s | %s | %s | %s | %s |\n", s, n, fmtPct(f), op.name, op.l.Count,
						fmtMs(op.l.P50), fmtMs(op.l.P90), fmtMs(op.l.P99), fmtMs(op.l.P999), fmtMs(op.l.Max))
				}
			}
		}
	}

	// Is the generator the bottleneck?
	b.WriteString("\nLoad generator (client CPU share = its CPU time over its own plus the servers'; above 50 % the client, not the servers, bounds the figure):\n\n")
	b.WriteString("| system | servers | writes | client CPU share | client CPU/op | server CPU/op | errors |\n|---|---|---|---|---|---|---|\n")
	var warnings []string
	for _, n := range p.Servers {
		for _, f := range p.Writes {
			for _, s := range sys {
				c := t.Find(s, n, f)
				if c == nil || !c.OK() {
					continue
				}
				ops := float64(c.Reads + c.Writes)
				share, srv := "–", "–"
				if c.ClientCPUShare >= 0 {
					share = fmt.Sprintf("%.0f%%", 100*c.ClientCPUShare)
				}
				if c.ServerCPUSec >= 0 && ops > 0 {
					srv = fmt.Sprintf("%.1f µs", 1e6*c.ServerCPUSec/ops)
				}
				cli := "–"
				if ops > 0 {
					cli = fmt.Sprintf("%.1f µs", 1e6*c.ClientCPUSec/ops)
				}
				fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %d |\n", s, n, fmtPct(f), share, cli, srv, c.Errors)
				for _, wn := range c.Warnings {
					warnings = append(warnings, fmt.Sprintf("%s servers=%d writes=%s: %s", s, n, fmtPct(f), wn))
				}
			}
		}
	}
	if len(warnings) > 0 {
		b.WriteString("\nWarnings:\n\n")
		for _, wn := range warnings {
			fmt.Fprintf(b, "- %s\n", wn)
		}
	}
	notes.write(b)
	_, err := io.WriteString(w, b.String())
	return err
}

// reportNotes numbers the distinct reasons cells could not run.
type reportNotes struct{ texts []string }

func (n *reportNotes) ref(text string) int {
	for i, t := range n.texts {
		if t == text {
			return i + 1
		}
	}
	n.texts = append(n.texts, text)
	return len(n.texts)
}

func (n *reportNotes) write(b *strings.Builder) {
	if len(n.texts) == 0 {
		return
	}
	b.WriteString("\nNotes:\n\n")
	for i, t := range n.texts {
		first, _, _ := strings.Cut(t, "\n")
		fmt.Fprintf(b, "%d. %s\n", i+1, first)
	}
}

func cellOps(c *Cell, notes *reportNotes) string {
	switch {
	case c == nil:
		return "–"
	case c.OK():
		return fmtThousands(c.OpsPerSec)
	default:
		return fmt.Sprintf("%s (%d)", c.Status, notes.ref(c.System+": "+c.Reason))
	}
}

func ratioText(a, b *Cell) string {
	if a == nil || b == nil || !a.OK() || !b.OK() || b.OpsPerSec <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.OpsPerSec/b.OpsPerSec)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pct formats a write fraction: 0.01 → "1%", 0.005 → "0.5%".
func fmtPct(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }

// ms formats microseconds as milliseconds.
func fmtMs(us int64) string { return fmt.Sprintf("%.2f", float64(us)/1000) }

// thousands formats a rate with thousands separators: 964910.4 → "964,910".
func fmtThousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// csvHeader is the column list of WriteCSV, one row per cell.
var csvHeader = []string{
	"system", "servers", "write_fraction", "status", "ops_per_s", "reads", "writes", "errors", "elapsed_s",
	"read_p50_us", "read_p90_us", "read_p99_us", "read_p999_us", "read_max_us",
	"write_p50_us", "write_p90_us", "write_p99_us", "write_p999_us", "write_max_us",
	"client_cpu_s", "server_cpu_s", "client_cpu_share", "leader_cpu_s", "follower_cpu_s_mean",
	"txns", "leader_fsyncs", "read_request_bytes", "read_reply_bytes", "write_request_bytes", "write_reply_bytes",
	"socket_bytes_per_op", "reason",
}

// WriteCSV writes one row per cell with the columns of csvHeader.
func WriteCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, c := range t.Cells {
		leaderCPU, followerCPU, txns, fsyncs := roleFigures(&c)
		row := []string{
			c.System, strconv.Itoa(c.Servers), csvFloat(c.WriteFraction), c.Status, csvFloat(c.OpsPerSec),
			csvInt(c.Reads), csvInt(c.Writes), csvInt(c.Errors), csvFloat(c.ElapsedSec),
			csvInt(c.Read.P50), csvInt(c.Read.P90), csvInt(c.Read.P99), csvInt(c.Read.P999), csvInt(c.Read.Max),
			csvInt(c.Write.P50), csvInt(c.Write.P90), csvInt(c.Write.P99), csvInt(c.Write.P999), csvInt(c.Write.Max),
			csvFloat(c.ClientCPUSec), csvFloat(c.ServerCPUSec), csvFloat(c.ClientCPUShare), csvFloat(leaderCPU), csvFloat(followerCPU),
			csvInt(txns), csvInt(fsyncs), csvFloat(c.ReadRequestBytes), csvFloat(c.ReadReplyBytes),
			csvFloat(c.WriteRequestBytes), csvFloat(c.WriteReplyBytes), csvFloat(c.SocketBytesPerOp), c.Reason,
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// roleFigures picks the leader's CPU and the followers' mean CPU (-1 when
// unknown), the transactions seen by the leader and its fsyncs (-1 when
// unknown).
func roleFigures(c *Cell) (leaderCPU, followerCPU float64, txns, fsyncs int64) {
	leaderCPU, followerCPU, txns, fsyncs = -1, -1, -1, -1
	var fsum float64
	var fn int
	for i, s := range c.PerServer {
		if i == c.Leader {
			leaderCPU, txns, fsyncs = s.CPUSec, s.Txns, s.Fsyncs
			continue
		}
		if s.CPUSec >= 0 {
			fsum += s.CPUSec
			fn++
		}
	}
	if fn > 0 {
		followerCPU = fsum / float64(fn)
	}
	return
}

func csvFloat(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
func csvInt(v int64) string     { return strconv.FormatInt(v, 10) }

// WriteJSON writes the whole table (meta, params, cells) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ReadTableJSON reads what WriteJSON wrote for a Table.
func ReadTableJSON(r io.Reader) (*Table, error) {
	var t Table
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("bench: reading table JSON: %w", err)
	}
	return &t, nil
}
