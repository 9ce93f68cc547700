// Package bench measures zkd and Apache ZooKeeper side by side: the
// paper's workload (many sessions, each pinned to one server and keeping a
// number of requests outstanding on its connection, 1 KB getData reads and
// setData writes on pre-created znodes, a write fraction from 0 to 1), with
// latency percentiles from HDR histograms and the CPU time of the load
// generator and of each server process, so a report shows which side was
// the bottleneck.
//
// The pieces:
//
//   - RunLoad (load.go): one load run against a list of servers. Optional
//     pacing (Rate) for latency-at-fixed-load runs; per-server counters
//     (zxid from srvr, fsyncs from mntr) read around the window.
//   - Launcher and Cluster (cluster.go): what a table cell runs against.
//     ZkdLauncher starts zkd (standalone for one server, else an
//     ensemble of processes with zoo.cfg server.N lines, through
//     StartZkdEnsemble in procs.go), ZooKeeperLauncher starts Apache
//     ZooKeeper 3.8 through tools/refzk, HostsLauncher names an ensemble
//     already running. A Launcher that cannot run a size at all reports
//     ErrEnsembleUnavailable, and the cell reads "n/a" with the reason.
//   - RunTable (table.go): the paper's throughput table, servers × write
//     fractions × systems, each cell saturated. Reports in report.go
//     (Markdown, CSV, JSON), svg.go (Figure 5's shape) and capacity.go
//     (costs per operation, the fitted model of model.go, predictions).
//   - RunCreates and RunCreateTable (latency.go): the paper's latency
//     benchmark (synchronous create, asynchronous delete).
//   - RunCurve (curve.go): latency against throughput from paced runs.
//   - Progress (progress.go): one rewritten line on a terminal, nothing
//     otherwise.
//
// Contract:
//  1. Start the targets (a Launcher, or StartZkd / StartZkdEnsemble /
//     StartReference) or name existing ones.
//  2. Call RunLoad (or RunTable, RunCreateTable, RunCurve); each creates its
//     znodes, warms up, measures, and returns its result. Each stops by
//     itself: every wait is bounded (the window, then at most drainTimeout
//     for replies still due) and every loop by a count or a deadline.
//  3. Stop the targets (by PID; the table drivers stop what they started
//     before starting the next system, so two systems never share the
//     machine during a cell).
//
// Invariants: servers bind 127.0.0.1 only; a system's cluster is stopped
// before the next one starts; a cell that cannot run is recorded with its
// reason and the run goes on.
//
// Cost sketch: one goroutine per session; per request one encode into a
// reused buffer, one read of the reply frame into a reused buffer, two
// histogram updates and one uncontended atomic add (the progress
// counter). The generator allocates nothing per request once its buffers
// have grown (TestWorkerAllocs; BenchmarkWorkerRoundTrip with -benchmem).
// Byte counts cost one atomic add per system call. The server probes are
// four short connections per server per cell.
package bench
