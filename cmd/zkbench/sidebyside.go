package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"zkd/bench"
)

// runSideBySide is zkbench's original mode (BENCHMARKS.md sections 1-1c
// cite it): one standalone server of each system, a row per write
// fraction.
func runSideBySide(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zkbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "both", "zkd, zookeeper, both, or host:port[,host:port...] of running servers")
	sessions := fs.Int("sessions", 30, "client sessions")
	outstanding := fs.Int("outstanding", 100, "requests in flight per session")
	size := fs.Int("size", 1024, "value size in bytes")
	writes := fs.String("writes", "0,1", "comma-separated write fractions, one run each")
	warmup := fs.Duration("warmup", 10*time.Second, "load before each measured window")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	rate := fs.Float64("rate", 0, "total requests/s (0: saturate)")
	zkdBin := fs.String("zkd-bin", "", "zkd binary (default: build ./cmd/zkd)")
	zkdProfile := fs.String("zkd-cpuprofile", "", "write zkd's CPU profile here")
	jvmHeap := fs.String("jvm-heap", "-Xmx2g", "heap flag for Apache ZooKeeper's JVM")
	zkSync := fs.Bool("zk-fsync", true, "let Apache ZooKeeper fsync its log (forceSync=yes), as zkd does; -zk-fsync=false compares with an unsynced ZooKeeper")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fractions, err := parseFractions(*writes)
	if err != nil {
		return err
	}

	type run struct {
		name   string
		target bench.Target
		addrs  []string
	}
	var runs []run
	defer func() {
		for _, r := range runs {
			if r.target != nil {
				_ = r.target.Stop()
			}
		}
	}()
	if *target == "zkd" || *target == "both" {
		bin, cleanup, err := zkdBinary(*zkdBin)
		if err != nil {
			return err
		}
		defer cleanup()
		var extra []string
		if *zkdProfile != "" {
			extra = append(extra, "-cpuprofile", *zkdProfile)
		}
		p, err := bench.StartZkd(bin, extra...)
		if err != nil {
			return err
		}
		runs = append(runs, run{"zkd", p, []string{p.Addr()}})
	}
	if *target == "zookeeper" || *target == "both" {
		r, err := bench.StartReference(*zkSync, *jvmHeap)
		if err != nil {
			return err
		}
		runs = append(runs, run{"zookeeper", r, []string{r.Addr()}})
	}
	if len(runs) == 0 {
		runs = append(runs, run{*target, nil, strings.Split(*target, ",")})
	}

	fmt.Fprintf(stdout, "sessions=%d outstanding=%d size=%d warmup=%s duration=%s rate=%g zookeeper-fsync=%t\n\n",
		*sessions, *outstanding, *size, *warmup, *duration, *rate, *zkSync)
	fmt.Fprintln(stdout, "| server | writes | ops/s | p50 | p90 | p99 | p99.9 | max | server CPU/op | client CPU share | errors |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|")
	results := map[string]map[float64]float64{}
	for _, f := range fractions {
		for _, r := range runs {
			cfg := bench.LoadConfig{
				Addrs: r.addrs, Sessions: *sessions, Outstanding: *outstanding,
				ValueBytes: *size, WriteFraction: f, Warmup: *warmup, Duration: *duration,
				Rate: *rate, Seed: 1,
			}
			if r.target != nil {
				cfg.ServerPIDs = []int{r.target.PID()}
			}
			res, err := bench.RunLoad(cfg)
			if err != nil {
				if p, ok := r.target.(*bench.ZkdProcess); ok {
					fmt.Fprintf(stderr, "zkd logs:\n%s\n", p.Logs())
				}
				return fmt.Errorf("%s writes=%g: %w", r.name, f, err)
			}
			ops := res.OpsPerSec()
			if results[r.name] == nil {
				results[r.name] = map[float64]float64{}
			}
			results[r.name][f] = ops
			all := res.Percentile
			srvCPU := "-"
			serverTotal := res.ServerCPUTotal()
			if len(res.ServerCPU) > 0 && res.Reads+res.Writes > 0 {
				srvCPU = fmt.Sprintf("%.1f µs", float64(serverTotal.Microseconds())/float64(res.Reads+res.Writes))
			}
			share := "-"
			if serverTotal > 0 {
				share = fmt.Sprintf("%.0f%%", 100*float64(res.ClientCPU)/float64(res.ClientCPU+serverTotal))
			}
			fmt.Fprintf(stdout, "| %s | %.0f%% | %.0f | %s | %s | %s | %s | %s | %s | %s | %d |\n",
				r.name, f*100, ops, ms(all(50)), ms(all(90)), ms(all(99)), ms(all(99.9)), ms(all(100)),
				srvCPU, share, res.Errors)
			if res.ClientBound() {
				fmt.Fprintf(stderr, "warning: %s writes=%g: the load generator used more CPU (%s) than the server (%s); the result is bounded by the client\n",
					r.name, f, res.ClientCPU, serverTotal)
			}
		}
	}
	if a, b := results["zkd"], results["zookeeper"]; a != nil && b != nil {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "| writes | zkd / zookeeper |")
		fmt.Fprintln(stdout, "|---|---|")
		for _, f := range fractions {
			if b[f] > 0 {
				fmt.Fprintf(stdout, "| %.0f%% | %.2f× |\n", f*100, a[f]/b[f])
			}
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// zkdBinary returns bin, or builds cmd/zkd from the enclosing module into
// a temporary directory that cleanup removes.
func zkdBinary(bin string) (string, func(), error) {
	if bin != "" {
		return bin, func() {}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "zkbench-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin, err = bench.BuildZkd(root, dir)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return bin, cleanup, nil
}
