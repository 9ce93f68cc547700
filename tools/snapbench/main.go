// Command snapbench runs the engine issue's big-tree benchmarks side by
// side on zkd and Apache ZooKeeper 3.8 standalone and prints Markdown
// tables:
//
//	(2) for N znodes of V bytes: the time and on-disk size of a snapshot of
//	    the full tree, restart-to-serving time (process start until a
//	    getData of a known node is answered, and until the last written
//	    value of a marker node is read), and resident memory after the fill
//	    and after a restart;
//	(3) the p50/p99/p99.9/max latency of a fixed-rate setData load over the
//	    tree, with snapshots running back to back (small snapCount) and with
//	    none (huge snapCount).
//
// Example:
//
//	go run ./tools/snapbench -nodes 1000000 -target both -payload random,json
//
// Every server runs on 127.0.0.1 over a temporary data directory that is
// removed at the end; each process is stopped by its PID. See
// bench/bigtree.go for what each step does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"zkd/bench"
	"zkd/tools/refzk"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "snapbench:", err)
		os.Exit(1)
	}
}

type options struct {
	nodes, fanout, valueBytes  int
	payloads                   []string
	target                     string
	fillConns, fillOutstanding int
	rate                       float64
	sessions                   int
	warmup, duration, settle   time.Duration
	snapSmall                  int
	xmx                        string
	jvmFlags                   []string
	zkCompression              string
	zkdBin                     string
	jsonOut                    string
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snapbench", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.nodes, "nodes", 1_000_000, "znodes (leaves) to create")
	fs.IntVar(&o.fanout, "fanout", 1000, "leaves per directory")
	fs.IntVar(&o.valueBytes, "value-bytes", 100, "bytes of data per znode")
	payloads := fs.String("payload", "random,json", "payload kinds, comma-separated: random (incompressible), json (compressible record)")
	fs.StringVar(&o.target, "target", "both", "zkd, zookeeper or both")
	fs.IntVar(&o.fillConns, "fill-conns", 8, "connections creating znodes")
	fs.IntVar(&o.fillOutstanding, "fill-outstanding", 1000, "creates in flight per connection")
	fs.Float64Var(&o.rate, "rate", 3000, "setData/s of the paced write runs")
	fs.IntVar(&o.sessions, "sessions", 10, "sessions of the paced write runs")
	fs.DurationVar(&o.warmup, "warmup", 15*time.Second, "paced writes before each measured window")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured window of each paced run; 0 skips benchmark 3")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "pause before reading RSS")
	fs.IntVar(&o.snapSmall, "snap-count-small", 10_000, "snapCount of the run with snapshots")
	fs.StringVar(&o.xmx, "xmx", "2g", "ZooKeeper's JVM -Xmx")
	jvm := fs.String("jvm-flags", "", "more JVM flags for ZooKeeper, space-separated")
	fs.StringVar(&o.zkCompression, "zk-compression", "", "also measure a ZooKeeper startup snapshot with zookeeper.snapshot.compression.method (gz or snappy)")
	fs.StringVar(&o.zkdBin, "zkd-bin", "", "a built zkd binary; default builds ./cmd/zkd")
	fs.StringVar(&o.jsonOut, "json", "", "also write every result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.payloads = strings.Split(*payloads, ",")
	for _, p := range o.payloads {
		if p != bench.PayloadRandom && p != bench.PayloadJSON {
			return fmt.Errorf("unknown payload %q", p)
		}
	}
	o.jvmFlags = []string{"-Xmx" + o.xmx}
	o.jvmFlags = append(o.jvmFlags, strings.Fields(*jvm)...)
	runZkd := o.target == "both" || o.target == "zkd"
	runZK := o.target == "both" || o.target == "zookeeper"
	if !runZkd && !runZK {
		return fmt.Errorf("unknown -target %q", o.target)
	}
	if runZK && !refzk.Available() {
		return refzk.ErrUnavailable
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	if runZkd && o.zkdBin == "" {
		dir, err := os.MkdirTemp("", "snapbench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if o.zkdBin, err = bench.BuildZkd(".", dir); err != nil {
			return err
		}
	}

	// On SIGINT or SIGTERM stop the server in use (by its PID) and remove
	// its data directory before exiting.
	var cur struct {
		sync.Mutex
		s bench.BigServer
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		logf("%v: stopping", s)
		cur.Lock()
		if cur.s != nil {
			_ = cur.s.Close()
		}
		os.Exit(1)
	}()

	var results []*bench.BigTreeResult
	for _, payload := range o.payloads {
		var servers []func() (bench.BigServer, error)
		if runZkd {
			servers = append(servers, func() (bench.BigServer, error) { return bench.NewZkdBig(o.zkdBin) })
		}
		if runZK {
			servers = append(servers, func() (bench.BigServer, error) { return bench.NewZooKeeperBig(o.jvmFlags...) })
		}
		for _, mk := range servers {
			s, err := mk()
			if err != nil {
				return err
			}
			cur.Lock()
			cur.s = s
			cur.Unlock()
			res, err := bench.RunBigTree(s, bench.BigTreeConfig{
				Tree: bench.BigTree{
					Nodes: o.nodes, Fanout: o.fanout, ValueBytes: o.valueBytes, Payload: payload, Seed: 1,
				},
				FillConns: o.fillConns, FillOutstanding: o.fillOutstanding,
				SnapCountSmall: o.snapSmall,
				Rate:           o.rate, Sessions: o.sessions, Warmup: o.warmup, Duration: o.duration,
				Settle: o.settle, ZKSnapshotCompression: o.zkCompression, Logf: logf,
			})
			cur.Lock()
			closeErr := s.Close()
			cur.s = nil
			cur.Unlock()
			if err != nil {
				return fmt.Errorf("%s, %s payload: %w", s.Name(), payload, err)
			}
			if closeErr != nil {
				return closeErr
			}
			results = append(results, res)
		}
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	report(stdout, o, results)
	return nil
}

// report prints the Markdown tables.
func report(w io.Writer, o options, results []*bench.BigTreeResult) {
	fmt.Fprintf(w, "commit %s; %s; nodes=%d fanout=%d value-bytes=%d payloads=%s\n",
		gitCommit(), machine(), o.nodes, o.fanout, o.valueBytes, strings.Join(o.payloads, ","))
	fmt.Fprintf(w, "fill: %d connections x %d creates in flight; paced writes: %.0f setData/s over %d sessions, warmup %v, window %v; snapCount with snapshots %d\n",
		o.fillConns, o.fillOutstanding, o.rate, o.sessions, o.warmup, o.duration, o.snapSmall)
	fmt.Fprintf(w, "zookeeper: 3.8 (Debian), JVM flags %s, forceSync=yes; zkd: forceSync=yes (both defaults)\n\n", strings.Join(o.jvmFlags, " "))

	fmt.Fprintln(w, "### Fill and memory")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | payload | fill | creates/s | server CPU in fill | RSS after fill | heap after fill | RSS after restart | heap after restart | RSS after full GC | heap after full GC |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		gcRSS, gcHeap := "n/a", "n/a"
		if r.RSSAfterRestartGC > 0 {
			gcRSS, gcHeap = mib(r.RSSAfterRestartGC), heap(r.HeapAfterRestartGC)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Server, r.Tree.Payload, secs(r.Fill.Elapsed), r.Fill.CreatesPerSec(), secs(r.FillCPU),
			mib(r.RSSAfterLoad), heap(r.HeapAfterLoad), mib(r.RSSAfterRestart), heap(r.HeapAfterRestart), gcRSS, gcHeap)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "heap: zkd = live heap marked by the last GC / next GC goal (GODEBUG=gctrace=1); zookeeper = used / committed (jcmd GC.heap_info).")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### Snapshot of the full tree")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | payload | snapshot time (no client load) | snapshot file | bytes/znode | under writes: n, median, max time | snapshots during fill | disk: snapshots kept, log |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		under := "n/a"
		for _, run := range r.Runs {
			if run.SnapCount == o.snapSmall && len(run.Snapshots) > 0 {
				under = snapStats(run.Snapshots)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | %s | %d | %s, %s |\n",
			r.Server, r.Tree.Payload, secs(r.IdleSnapshot.Took), mib(r.SnapshotFileBytes),
			float64(r.SnapshotFileBytes)/float64(r.Tree.Nodes), under, len(r.LoadSnapshots),
			mib(r.DiskSnapBytes), mib(r.DiskLogBytes))
		if r.Compressed != nil {
			fmt.Fprintf(w, "| %s (%s) | %s | %s | %s | %.0f | n/a | n/a | n/a |\n",
				r.Server, o.zkCompression, r.Tree.Payload, secs(r.Compressed.Took), mib(r.Compressed.Bytes),
				float64(r.Compressed.Bytes)/float64(r.Tree.Nodes))
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### Restart to serving")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | payload | restart | first getData | last write read | server's own account |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		for _, rr := range r.Restarts {
			note := rr.RestoreNote
			if rr.StartupSnapshot != nil {
				note += fmt.Sprintf(" (%s)", secs(rr.StartupSnapshot.Took))
			}
			markerRead := "n/a"
			if rr.Serving.MarkerRead > 0 {
				markerRead = secs(rr.Serving.MarkerRead)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Server, r.Tree.Payload, rr.Label,
				secs(rr.Serving.FirstRead), markerRead, note)
		}
	}
	fmt.Fprintln(w)

	if o.duration > 0 {
		fmt.Fprintln(w, "### Write latency with and without snapshots")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| server | payload | snapshots | writes/s | p50 | p99 | p99.9 | max | p99 from schedule | max from schedule | snapshots in window | RSS after |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range results {
			for _, run := range r.Runs {
				p := run.Result
				fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %d | %s |\n",
					r.Server, r.Tree.Payload, run.Label, p.WritesPerSec(),
					ms(bench.HistQuantile(p.Lat, 50)), ms(bench.HistQuantile(p.Lat, 99)),
					ms(bench.HistQuantile(p.Lat, 99.9)), ms(bench.HistQuantile(p.Lat, 100)),
					ms(bench.HistQuantile(p.SchedLat, 99)), ms(bench.HistQuantile(p.SchedLat, 100)),
					len(run.Snapshots), mib(run.RSSAfter))
				if p.Errors > 0 || p.Blocked > 0 {
					fmt.Fprintf(w, "|   (%d errors, %d sends blocked by the in-flight bound) |||||||||||\n", p.Errors, p.Blocked)
				}
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Latency is reply time minus the moment the request was written to the socket; \"from schedule\" measures from the moment the open-loop schedule said to send (adds the generator's own lateness; free of coordinated omission).")
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "### Goals")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| payload | goal | zkd | zookeeper | ratio | pass |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, payload := range o.payloads {
		z, k := find(results, "zkd", payload), find(results, "zookeeper", payload)
		if z == nil || k == nil {
			continue
		}
		goal := func(name, zv, kv string, ratio float64, ratioFmt string, pass bool) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | "+ratioFmt+" | %s |\n", payload, name, zv, kv, ratio, passFail(pass))
		}
		sz := float64(z.SnapshotFileBytes) / float64(k.SnapshotFileBytes)
		goal("snapshot size ≤ 1/2 of ZooKeeper's", mib(z.SnapshotFileBytes), mib(k.SnapshotFileBytes), sz, "%.2f×", sz <= 0.5)
		zr, kr := restartOf(z), restartOf(k)
		if zr != nil && kr != nil {
			f := float64(kr.Serving.FirstRead) / float64(zr.Serving.FirstRead)
			goal("restart to first getData ≥ 3× faster", secs(zr.Serving.FirstRead), secs(kr.Serving.FirstRead), f, "%.1f× faster", f >= 3)
			f = float64(kr.Serving.MarkerRead) / float64(zr.Serving.MarkerRead)
			goal("restart to last write read ≥ 3× faster", secs(zr.Serving.MarkerRead), secs(kr.Serving.MarkerRead), f, "%.1f× faster", f >= 3)
		}
		rl := float64(z.RSSAfterLoad) / float64(k.RSSAfterLoad)
		goal("RSS after fill ≤ 1/3 of ZooKeeper's", mib(z.RSSAfterLoad), mib(k.RSSAfterLoad), rl, "%.2f×", rl <= 1.0/3)
		rr := float64(z.RSSAfterRestart) / float64(k.RSSAfterRestart)
		goal("RSS after restart ≤ 1/3 of ZooKeeper's", mib(z.RSSAfterRestart), mib(k.RSSAfterRestart), rr, "%.2f×", rr <= 1.0/3)
		if k.RSSAfterRestartGC > 0 {
			g := float64(z.RSSAfterRestart) / float64(k.RSSAfterRestartGC)
			goal("(info) RSS after restart vs ZooKeeper's after a full GC", mib(z.RSSAfterRestart), mib(k.RSSAfterRestartGC), g, "%.2f×", g <= 1.0/3)
		}
	}
}

func find(rs []*bench.BigTreeResult, server, payload string) *bench.BigTreeResult {
	for _, r := range rs {
		if r.Server == server && r.Tree.Payload == payload {
			return r
		}
	}
	return nil
}

// restartOf is the clean restart: from a full snapshot, short log tail.
func restartOf(r *bench.BigTreeResult) *bench.RestartResult {
	if len(r.Restarts) < 2 {
		return nil
	}
	return &r.Restarts[1]
}

func snapStats(evs []bench.SnapshotEvent) string {
	ds := make([]time.Duration, len(evs))
	for i, e := range evs {
		ds[i] = e.Took
	}
	for i := 1; i < len(ds); i++ { // insertion sort: a few dozen at most
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	return fmt.Sprintf("%d, %s, %s", len(ds), secs(ds[len(ds)/2]), secs(ds[len(ds)-1]))
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "**fail**"
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func heap(h bench.HeapInfo) string {
	return fmt.Sprintf("%.0f / %.0f MiB", float64(h.UsedBytes)/(1<<20), float64(h.CommittedBytes)/(1<<20))
}

func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d CPU %s%s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}
