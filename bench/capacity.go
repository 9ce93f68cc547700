package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// CapacityOptions shapes the capacity-planning report.
type CapacityOptions struct {
	Cores   []int     // cores per server for the dedicated predictions; default 4, 8, 16
	Servers []int     // ensemble sizes to predict; default the table's sizes plus 3..13
	Net     *NetModel // nil: DefaultNet; BytesPerSec 0: no network bound
}

func (o CapacityOptions) withDefaults(t *Table) CapacityOptions {
	if len(o.Cores) == 0 {
		o.Cores = []int{4, 8, 16}
	}
	if len(o.Servers) == 0 {
		seen := map[int]bool{}
		for _, n := range append(append([]int(nil), t.Params.Servers...), 3, 5, 7, 9, 13) {
			if !seen[n] {
				seen[n] = true
				o.Servers = append(o.Servers, n)
			}
		}
		sort.Ints(o.Servers)
	}
	if o.Net == nil {
		n := DefaultNet
		o.Net = &n
	}
	return o
}

// Capacity is the report's data, also written as JSON.
type Capacity struct {
	Models []*CostModel         `json:"models"`
	Checks []CapacityCheck      `json:"checks"`
	Plans  []CapacityPrediction `json:"predictions"`
}

// CapacityCheck is the model against one measured cell.
type CapacityCheck struct {
	System    string  `json:"system"`
	Servers   int     `json:"servers"`
	Writes    float64 `json:"write_fraction"`
	Measured  float64 `json:"measured_ops_per_s"`
	Predicted float64 `json:"predicted_ops_per_s"`
	ErrorPct  float64 `json:"error_pct"`
	CPUBusy   float64 `json:"cpu_busy"` // (client + servers) CPU over the machine's cores × window
}

// CapacityPrediction is a predicted throughput for a dedicated deployment.
type CapacityPrediction struct {
	System  string  `json:"system"`
	Servers int     `json:"servers"`
	Cores   int     `json:"cores"`
	Writes  float64 `json:"write_fraction"`
	Ops     float64 `json:"ops_per_s"`
	Bound   string  `json:"bound"`
}

// BuildCapacity fits each system's model and checks and predicts with it.
// Systems without per-server CPU time are left out.
func BuildCapacity(t *Table, opts CapacityOptions) *Capacity {
	opts = opts.withDefaults(t)
	cp := &Capacity{}
	cores := float64(t.Meta.Cores)
	for _, sys := range t.SystemNames() {
		m, err := FitCostModel(t, sys)
		if err != nil {
			continue
		}
		cp.Models = append(cp.Models, m)
		for i := range t.Cells {
			c := &t.Cells[i]
			if c.System != sys || !c.OK() || c.ServerCPUSec < 0 {
				continue
			}
			ops := float64(c.Reads + c.Writes)
			if ops == 0 || cores <= 0 {
				continue
			}
			pred := m.PredictShared(c.Servers, c.WriteFraction, cores, c.ClientCPUSec/ops)
			ck := CapacityCheck{System: sys, Servers: c.Servers, Writes: c.WriteFraction, Measured: c.OpsPerSec,
				Predicted: pred, CPUBusy: (c.ClientCPUSec + c.ServerCPUSec) / (cores * c.ElapsedSec)}
			if c.OpsPerSec > 0 {
				ck.ErrorPct = 100 * (pred - c.OpsPerSec) / c.OpsPerSec
			}
			cp.Checks = append(cp.Checks, ck)
		}
		for _, n := range opts.Servers {
			for _, k := range opts.Cores {
				for _, f := range t.Params.Writes {
					ops, bound := m.PredictDedicated(n, f, float64(k), *opts.Net)
					cp.Plans = append(cp.Plans, CapacityPrediction{System: sys, Servers: n, Cores: k, Writes: f, Ops: ops, Bound: bound})
				}
			}
		}
	}
	return cp
}

// WriteCapacity writes the capacity-planning report of a table: measured
// costs per cell, CPU per read and per write on the leader and the
// followers, the fitted model, the model against the measured cells, and
// predictions for dedicated servers, then what the model assumes.
func WriteCapacity(w io.Writer, t *Table, opts CapacityOptions) error {
	opts = opts.withDefaults(t)
	cp := BuildCapacity(t, opts)
	b := &strings.Builder{}
	sys := t.SystemNames()

	b.WriteString("Measured per cell (CPU per operation of the ensemble; bytes are frames seen by the client, length prefix included; fsyncs and transactions from each server's mntr and srvr):\n\n")
	b.WriteString("| system | servers | writes | ops/s | leader CPU/op | follower CPU/op | CPU busy | bytes/read | bytes/write | leader fsyncs/s | txns/fsync leader | txns/fsync followers |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range t.Params.Servers {
		for _, f := range t.Params.Writes {
			for _, s := range sys {
				c := t.Find(s, n, f)
				if c == nil || !c.OK() {
					continue
				}
				ops := float64(c.Reads + c.Writes)
				lcpu, fcpu, txns, fsyncs := roleFigures(c)
				busy := "–"
				if c.ServerCPUSec >= 0 && t.Meta.Cores > 0 {
					busy = fmt.Sprintf("%.0f%%", 100*(c.ClientCPUSec+c.ServerCPUSec)/(float64(t.Meta.Cores)*c.ElapsedSec))
				}
				fsyncRate, lRatio := "–", "–"
				if fsyncs >= 0 {
					fsyncRate = fmtThousands(float64(fsyncs) / c.ElapsedSec)
					if fsyncs > 0 && txns >= 0 {
						lRatio = fmt.Sprintf("%.1f", float64(txns)/float64(fsyncs))
					}
				}
				fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s, n, fmtPct(f), fmtThousands(c.OpsPerSec),
					usPer(lcpu, ops), usPer(fcpu, ops), busy, bytesText(c.ReadRequestBytes, c.ReadReplyBytes, c.Reads),
					bytesText(c.WriteRequestBytes, c.WriteReplyBytes, c.Writes), fsyncRate, lRatio, followerTxnsPerFsync(c))
			}
		}
	}

	b.WriteString("\nCPU time per operation, from the read-only (0 %) and write-only (100 %) cells: a read costs the server that answers it; every write costs the leader and every follower:\n\n")
	b.WriteString("| system | servers | read on leader | read on a follower | write on leader | write on a follower |\n|---|---|---|---|---|---|\n")
	for _, n := range t.Params.Servers {
		for _, s := range sys {
			rl, rf := perOpCPU(t.Find(s, n, 0), true)
			wl, wf := perOpCPU(t.Find(s, n, 1), false)
			if rl == "–" && rf == "–" && wl == "–" && wf == "–" {
				continue
			}
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s |\n", s, n, rl, rf, wl, wf)
		}
	}

	b.WriteString("\nFitted model (non-negative least squares over every server of every measured cell, relative error):\n\n")
	b.WriteString("| system | read | write, client side | write on leader | + per follower | write on a follower | client/op | cells | servers fitted | rms error |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range cp.Models {
		client, leader := fitted(m.ClientWrite, m.HasClientWrite), fitted(m.LeaderWrite, m.HasLeaderWrite)
		perFollower, follower := fitted(m.PerFollower, m.HasPerFollower), fitted(m.FollowerWrite, m.HasFollowerWrite)
		if m.StandaloneOnly() {
			client = "in the leader's cost"
			leader = fmt.Sprintf("%.2f µs (standalone, client side included)", (m.LeaderWrite+m.ClientWrite)*1e6)
			perFollower, follower = "not measured", "not measured"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.2f µs | %d | %d | %.0f%% |\n", m.System, fitted(m.Read, m.HasRead),
			client, leader, perFollower, follower, m.Client*1e6, m.Cells, m.Observations, 100*m.RMSRelError)
	}
	for _, m := range cp.Models {
		if !m.StandaloneOnly() && !m.WritesSeparated() {
			fmt.Fprintf(b, "\n%s: the write costs are not separable from ensembles of sizes %v (the client side, the leader's, the per-follower and the followers' shares all change with N; three sizes separate them). The fit reproduces the measured sizes; predictions for other sizes split the costs arbitrarily.\n",
				m.System, m.Sizes)
		}
	}
	if len(cp.Models) == 0 {
		b.WriteString("| – | no cell with per-server CPU time | | | | | | | | |\n")
	}

	fmt.Fprintf(b, "\nModel against the measured cells (prediction for this machine: the servers and the load generator share its %d cores, so predicted = cores ÷ CPU per operation summed over the servers and the client; a cell whose CPU was not busy was bound by something else, usually fsync latency or too few requests outstanding):\n\n", t.Meta.Cores)
	b.WriteString("| system | servers | writes | measured ops/s | predicted ops/s | error | CPU busy |\n|---|---|---|---|---|---|---|\n")
	for _, ck := range cp.Checks {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %+.0f%% | %.0f%% |\n", ck.System, ck.Servers, fmtPct(ck.Writes),
			fmtThousands(ck.Measured), fmtThousands(ck.Predicted), ck.ErrorPct, 100*ck.CPUBusy)
	}

	netText := "unbounded network"
	if opts.Net.BytesPerSec > 0 {
		netText = fmt.Sprintf("%.0f Gbit/s per server", opts.Net.BytesPerSec*8/1e9)
	}
	for _, m := range cp.Models {
		for _, k := range opts.Cores {
			fmt.Fprintf(b, "\nPredicted ops/s for %s, N servers with %d cores each, %s, clients elsewhere:\n\n| servers |", m.System, k, netText)
			for _, f := range t.Params.Writes {
				fmt.Fprintf(b, " %s |", fmtPct(f))
			}
			b.WriteString(" bound at 100 % writes |\n|---|" + strings.Repeat("---|", len(t.Params.Writes)+1) + "\n")
			for _, n := range opts.Servers {
				fmt.Fprintf(b, "| %d |", n)
				bound := ""
				for _, f := range t.Params.Writes {
					for _, pl := range cp.Plans {
						if pl.System == m.System && pl.Servers == n && pl.Cores == k && pl.Writes == f {
							fmt.Fprintf(b, " %s |", fmtThousands(pl.Ops))
							bound = pl.Bound
						}
					}
				}
				switch {
				case m.StandaloneOnly() && n > 1:
					bound += " (follower costs not measured: optimistic)"
				case !m.WritesSeparated() && !containsInt(m.Sizes, n):
					bound += " (write costs not separated: extrapolated)"
				}
				fmt.Fprintf(b, " %s |\n", bound)
			}
		}
	}

	b.WriteString(capacityAssumptions)
	_, err := io.WriteString(w, b.String())
	return err
}

const capacityAssumptions = `
What the model assumes:

1. CPU is the limit. Each operation costs a fixed amount of CPU time on
   each server it touches, whatever the load: a read costs the server that
   answers it; a write costs the server its client is connected to (decode,
   forward to the leader, reply), the leader (prepare, log, fsync, commit,
   apply, plus a proposal, an ack and a commit per follower) and every
   follower (log, fsync, ack, apply). Costs measured at saturation include
   the batching that saturation brings (group commit, coalesced syscalls);
   at light load an operation costs more.
2. Sessions, hence reads and client-side write work, are spread evenly
   over the servers, the leader included (zoo.cfg leaderServes=yes).
3. A dedicated server gives all its cores to the server process, and the
   process uses them all (no lock or single-threaded stage saturates
   first: the commit path of both systems is a single pipeline, so at high
   write fractions this assumption is optimistic).
4. fsync latency is hidden by group commit: the disk bounds throughput only
   through its bandwidth, which the model does not include. The measured
   transactions per fsync show how much batching the runs reached.
5. The network bound counts each server's outbound bytes: replies to its
   clients, and on the leader one proposal (the write's request plus a
   fixed overhead) plus a commit per follower per write; it ignores TCP and
   IP headers.
6. The check on this machine adds the load generator's measured CPU per
   operation, since it shares the cores. Where "CPU busy" is well below
   100 %, the cell was not CPU-bound and the model over-predicts it.
7. Costs that the cells cannot separate are reported as such: with only a
   standalone server, the client side of a write is folded into the
   leader's cost and the follower costs are not measured, so predictions
   for ensembles count only the leader and are optimistic; with ensembles
   of fewer than three sizes the write costs do not separate, and
   predictions for other sizes are extrapolations.
`

func usPer(cpuSec, ops float64) string {
	if cpuSec < 0 || ops <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f µs", 1e6*cpuSec/ops)
}

func bytesText(req, rep float64, n int64) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f + %.0f", req, rep)
}

func fitted(v float64, has bool) string {
	if !has {
		return fmt.Sprintf("%.2f µs (not separable)", v*1e6)
	}
	return fmt.Sprintf("%.2f µs", v*1e6)
}

// followerTxnsPerFsync is the mean over the followers of txns per fsync.
func followerTxnsPerFsync(c *Cell) string {
	var sum float64
	var n int
	for i, s := range c.PerServer {
		if i == c.Leader || s.Fsyncs <= 0 || s.Txns < 0 {
			continue
		}
		sum += float64(s.Txns) / float64(s.Fsyncs)
		n++
	}
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", sum/float64(n))
}

// perOpCPU divides the leader's and the followers' CPU by the operations
// they handled: for reads the reads their own sessions sent, for writes
// every write of the ensemble.
func perOpCPU(c *Cell, reads bool) (leader, follower string) {
	leader, follower = "–", "–"
	if c == nil || !c.OK() || len(c.PerServer) == 0 {
		return
	}
	var fsum float64
	var fn int
	for i, s := range c.PerServer {
		ops := float64(c.Writes)
		if reads {
			ops = float64(s.Reads)
		}
		if s.CPUSec < 0 || ops <= 0 {
			continue
		}
		v := s.CPUSec / ops
		if i == c.Leader {
			leader = fmt.Sprintf("%.2f µs", v*1e6)
		} else {
			fsum += v
			fn++
		}
	}
	if fn > 0 {
		follower = fmt.Sprintf("%.2f µs", 1e6*fsum/float64(fn))
	}
	return
}
