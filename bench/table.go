package bench

import (
	"errors"
	"fmt"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The paper's table by default: ensemble sizes × write fractions. The
// standalone column (1) comes first so that the side-by-side ratio exists
// while zkd runs standalone only.
var (
	DefaultServers = []int{1, 3, 5, 7, 9, 13}
	DefaultWrites  = []float64{0, 0.01, 0.1, 0.2, 0.5, 1}
)

// Cell status values.
const (
	StatusOK          = "ok"
	StatusUnavailable = "n/a"   // the system cannot run this shape (yet)
	StatusError       = "error" // it was tried and failed
)

// launchStatus is the status of the cells left unmeasured because an
// ensemble did not start: n/a when the system cannot run that shape, an
// error otherwise.
func launchStatus(err error) string {
	if errors.Is(err, ErrEnsembleUnavailable) {
		return StatusUnavailable
	}
	return StatusError
}

// TableConfig is one run of the throughput table.
type TableConfig struct {
	Servers  []int
	Writes   []float64
	Systems  []Launcher
	Load     LoadConfig // template: Sessions, Outstanding, ValueBytes, Znodes, Warmup, Duration, Rate, Seed
	Progress *Progress  // nil: silent
}

// TableParams are the parameters a table records with its results.
type TableParams struct {
	Servers     []int     `json:"servers"`
	Writes      []float64 `json:"writes"`
	Systems     []string  `json:"systems"`
	Sessions    int       `json:"sessions"`
	Outstanding int       `json:"outstanding"`
	ValueBytes  int       `json:"value_bytes"`
	Znodes      int       `json:"znodes"`
	WarmupSec   float64   `json:"warmup_s"`
	DurationSec float64   `json:"duration_s"`
	Rate        float64   `json:"rate"`
	Notes       []string  `json:"notes,omitempty"` // e.g. "zookeeper forceSync=yes, -Xmx1g"
}

// Table is a finished run: what was asked, where, and every cell.
type Table struct {
	Meta   Meta        `json:"meta"`
	Params TableParams `json:"params"`
	Cells  []Cell      `json:"cells"`
}

// Latency summarises one histogram, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p999_us"`
	Max   int64   `json:"max_us"`
}

// Summarize reads the percentiles off h (microseconds); nil or empty
// gives the zero Latency.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(), Mean: h.Mean(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
}

// ServerCell is one server's share of a cell.
type ServerCell struct {
	Addr   string  `json:"addr"`
	Role   string  `json:"role"`
	CPUSec float64 `json:"cpu_s"`  // -1 when unknown
	Txns   int64   `json:"txns"`   // -1 when unknown
	Fsyncs int64   `json:"fsyncs"` // -1 when unknown
	Reads  int64   `json:"reads"`  // by the sessions pinned to this server
	Writes int64   `json:"writes"`
}

// Cell is one system at one ensemble size and write fraction.
type Cell struct {
	System        string  `json:"system"`
	Servers       int     `json:"servers"`
	WriteFraction float64 `json:"write_fraction"`
	Status        string  `json:"status"`
	Reason        string  `json:"reason,omitempty"`

	OpsPerSec  float64 `json:"ops_per_s"`
	Reads      int64   `json:"reads"`
	Writes     int64   `json:"writes"`
	Errors     int64   `json:"errors"`
	ElapsedSec float64 `json:"elapsed_s"`
	Read       Latency `json:"read"`
	Write      Latency `json:"write"`
	All        Latency `json:"all"`

	ClientCPUSec   float64      `json:"client_cpu_s"`
	ServerCPUSec   float64      `json:"server_cpu_s"`     // -1 when unknown
	ClientCPUShare float64      `json:"client_cpu_share"` // -1 when unknown
	Leader         int          `json:"leader"`
	PerServer      []ServerCell `json:"per_server,omitempty"`

	// Frame bytes per operation (length prefix included).
	ReadRequestBytes  float64 `json:"read_request_bytes"`
	ReadReplyBytes    float64 `json:"read_reply_bytes"`
	WriteRequestBytes float64 `json:"write_request_bytes"`
	WriteReplyBytes   float64 `json:"write_reply_bytes"`
	// TCP payload per operation, both directions, all sessions.
	SocketBytesPerOp float64 `json:"socket_bytes_per_op"`

	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether the cell was measured.
func (c *Cell) OK() bool { return c.Status == StatusOK }

// Find returns the cell of system at servers and write fraction, or nil.
func (t *Table) Find(system string, servers int, writes float64) *Cell {
	for i := range t.Cells {
		c := &t.Cells[i]
		if c.System == system && c.Servers == servers && c.WriteFraction == writes {
			return c
		}
	}
	return nil
}

// SystemNames lists the systems in the order they were run.
func (t *Table) SystemNames() []string { return t.Params.Systems }

// RunTable measures every cell: for each ensemble size, each system's
// cluster is started, loaded at each write fraction in turn, and stopped
// before the next system starts, so two systems never share the machine.
// A cell that cannot run is recorded with its reason; the run goes on.
// The error is non-nil only when no cell could be measured at all.
func RunTable(cfg TableConfig) (*Table, error) {
	if len(cfg.Servers) == 0 || len(cfg.Writes) == 0 || len(cfg.Systems) == 0 {
		return nil, errors.New("bench: table needs servers, writes and systems")
	}
	for _, n := range cfg.Servers {
		if err := checkServers(n); err != nil {
			return nil, err
		}
	}
	load := cfg.Load.withDefaults()
	t := &Table{Meta: CollectMeta(), Params: TableParams{
		Servers: cfg.Servers, Writes: cfg.Writes,
		Sessions: load.Sessions, Outstanding: load.Outstanding, ValueBytes: load.ValueBytes,
		Znodes: load.Znodes, WarmupSec: load.Warmup.Seconds(), DurationSec: load.Duration.Seconds(),
		Rate: load.Rate,
	}}
	for _, s := range cfg.Systems {
		t.Params.Systems = append(t.Params.Systems, s.System())
	}
	pr := cfg.Progress
	pr.Plan(len(cfg.Servers)*len(cfg.Systems)*len(cfg.Writes), load.Warmup+load.Duration)
	measured := 0
	for _, n := range cfg.Servers {
		for _, sys := range cfg.Systems {
			cluster, err := sys.Launch(n)
			if err != nil {
				status := launchStatus(err)
				for _, f := range cfg.Writes {
					pr.Skip()
					t.Cells = append(t.Cells, Cell{System: sys.System(), Servers: n, WriteFraction: f,
						Status: status, Reason: err.Error(), Leader: -1})
				}
				continue
			}
			for _, f := range cfg.Writes {
				pr.Begin(fmt.Sprintf("%s servers=%d writes=%g%%", sys.System(), n, f*100))
				c := measureCell(cluster, load, f, pr)
				pr.End(c.OpsPerSec)
				if c.OK() {
					measured++
				}
				t.Cells = append(t.Cells, c)
			}
			if err := cluster.Stop(); err != nil {
				last := &t.Cells[len(t.Cells)-1]
				last.Warnings = append(last.Warnings, "stopping the cluster: "+err.Error())
			}
		}
	}
	pr.Finish()
	if measured == 0 {
		return t, errors.New("bench: no cell could be measured")
	}
	return t, nil
}

// measureCell is runCell, tried once more if it fails: an ensemble
// starved of CPU on a shared machine can drop a connection (a follower
// that misses syncLimit restarts), which says nothing about throughput.
func measureCell(cluster Cluster, load LoadConfig, f float64, pr *Progress) Cell {
	c := runCell(cluster, load, f, pr)
	if c.Status != StatusError {
		return c
	}
	first := c.Reason
	c = runCell(cluster, load, f, pr)
	c.Warnings = append(c.Warnings, "measured on the second attempt; the first failed: "+firstLine(first))
	return c
}

// runCell loads cluster at write fraction f and turns the result into a
// cell. Each cell uses its own parent znode so cells do not share state.
func runCell(cluster Cluster, load LoadConfig, f float64, pr *Progress) Cell {
	c := Cell{System: cluster.System(), Servers: len(cluster.Addrs()), WriteFraction: f, Leader: cluster.Leader()}
	cfg := load
	cfg.Addrs = cluster.Addrs()
	cfg.ServerPIDs = knownPIDs(cluster.PIDs())
	cfg.WriteFraction = f
	cfg.ProbeServers = true
	cfg.Prefix = fmt.Sprintf("%s-w%03d", load.withDefaults().Prefix, int(f*1000+0.5))
	if pr != nil {
		cfg.OnTick = pr.Tick
	}
	res, err := RunLoad(cfg)
	if err != nil {
		c.Status, c.Reason = StatusError, err.Error()
		if zc, ok := cluster.(*zkdCluster); ok {
			c.Reason += "\nzkd logs:\n" + tailOf(zc.Logs(), 2000)
		}
		return c
	}
	return cellFromResult(c, res)
}

func cellFromResult(c Cell, res *LoadResult) Cell {
	c.Status = StatusOK
	c.OpsPerSec = res.OpsPerSec()
	c.Reads, c.Writes, c.Errors = res.Reads, res.Writes, res.Errors
	c.ElapsedSec = res.Elapsed.Seconds()
	c.Read, c.Write = Summarize(res.ReadLat), Summarize(res.WriteLat)
	all := newHist()
	all.Merge(res.ReadLat)
	all.Merge(res.WriteLat)
	c.All = Summarize(all)
	c.ClientCPUSec = res.ClientCPU.Seconds()
	c.ServerCPUSec, c.ClientCPUShare = -1, res.ClientCPUShare()
	if len(res.ServerCPU) > 0 {
		c.ServerCPUSec = res.ServerCPUTotal().Seconds()
	}
	for _, s := range res.Servers {
		sc := ServerCell{Addr: s.Addr, Role: s.Role, CPUSec: -1, Txns: s.Txns, Fsyncs: s.Fsyncs, Reads: s.Reads, Writes: s.Writes}
		if s.CPU >= 0 {
			sc.CPUSec = s.CPU.Seconds()
		}
		c.PerServer = append(c.PerServer, sc)
	}
	if res.Reads > 0 {
		c.ReadRequestBytes = float64(res.ReadRequestBytes) / float64(res.Reads)
		c.ReadReplyBytes = float64(res.ReadReplyBytes) / float64(res.Reads)
	}
	if res.Writes > 0 {
		c.WriteRequestBytes = float64(res.WriteRequestBytes) / float64(res.Writes)
		c.WriteReplyBytes = float64(res.WriteReplyBytes) / float64(res.Writes)
	}
	if ops := res.Reads + res.Writes; ops > 0 {
		c.SocketBytesPerOp = float64(res.SocketBytesIn+res.SocketBytesOut) / float64(ops)
	}
	if res.ClientBound() {
		c.Warnings = append(c.Warnings, fmt.Sprintf(
			"the load generator used more CPU (%.2f s) than the servers (%.2f s): this figure is bounded by the client",
			res.ClientCPU.Seconds(), res.ServerCPUTotal().Seconds()))
	}
	if res.Errors > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d requests answered with an error", res.Errors))
	}
	return c
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
