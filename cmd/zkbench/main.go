// Command zkbench runs the paper's workload against zkd and Apache
// ZooKeeper side by side and prints a Markdown table: throughput, latency
// percentiles, and the CPU time of the servers and of the load generator.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"zkd/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "zkbench:", err)
		os.Exit(1)
	}
}

func run() error {
	target := flag.String("target", "both", "zkd, zookeeper, both, or host:port[,host:port...] of running servers")
	sessions := flag.Int("sessions", 30, "client sessions")
	outstanding := flag.Int("outstanding", 100, "requests in flight per session")
	size := flag.Int("size", 1024, "value size in bytes")
	writes := flag.String("writes", "0,1", "comma-separated write fractions, one run each")
	warmup := flag.Duration("warmup", 10*time.Second, "load before each measured window")
	duration := flag.Duration("duration", 10*time.Second, "measured window")
	rate := flag.Float64("rate", 0, "total requests/s (0: saturate)")
	zkdBin := flag.String("zkd-bin", "", "zkd binary (default: build ./cmd/zkd)")
	zkdProfile := flag.String("zkd-cpuprofile", "", "write zkd's CPU profile here")
	jvmHeap := flag.String("jvm-heap", "-Xmx2g", "heap flag for Apache ZooKeeper's JVM")
	zkSync := flag.Bool("zk-fsync", true, "let Apache ZooKeeper fsync its log (forceSync=yes), as zkd does; -zk-fsync=false compares with an unsynced ZooKeeper")
	flag.Parse()

	var fractions []float64
	for _, f := range strings.Split(*writes, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > 1 {
			return fmt.Errorf("bad -writes value %q", f)
		}
		fractions = append(fractions, v)
	}

	type run struct {
		name   string
		target bench.Target
		addrs  []string
	}
	var runs []run
	stopAll := func() {
		for _, r := range runs {
			if r.target != nil {
				_ = r.target.Stop()
			}
		}
	}
	defer stopAll()
	if *target == "zkd" || *target == "both" {
		bin := *zkdBin
		if bin == "" {
			dir, err := os.MkdirTemp("", "zkbench-bin-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if bin, err = bench.BuildZkd(".", dir); err != nil {
				return err
			}
		}
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

	fmt.Printf("sessions=%d outstanding=%d size=%d warmup=%s duration=%s rate=%g zookeeper-fsync=%t\n\n",
		*sessions, *outstanding, *size, *warmup, *duration, *rate, *zkSync)
	fmt.Println("| server | writes | ops/s | p50 | p90 | p99 | p99.9 | max | server CPU/op | client CPU share | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
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
					fmt.Fprintf(os.Stderr, "zkd logs:\n%s\n", p.Logs())
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
			var serverTotal time.Duration
			for _, c := range res.ServerCPU {
				serverTotal += c
			}
			if len(res.ServerCPU) > 0 && res.Reads+res.Writes > 0 {
				srvCPU = fmt.Sprintf("%.1f µs", float64(serverTotal.Microseconds())/float64(res.Reads+res.Writes))
			}
			share := "-"
			if serverTotal > 0 {
				share = fmt.Sprintf("%.0f%%", 100*float64(res.ClientCPU)/float64(res.ClientCPU+serverTotal))
			}
			fmt.Printf("| %s | %.0f%% | %.0f | %s | %s | %s | %s | %s | %s | %s | %d |\n",
				r.name, f*100, ops, ms(all(50)), ms(all(90)), ms(all(99)), ms(all(99.9)), ms(all(100)),
				srvCPU, share, res.Errors)
			if serverTotal > 0 && res.ClientCPU > serverTotal {
				fmt.Fprintf(os.Stderr, "warning: %s writes=%g: the load generator used more CPU (%s) than the server (%s); the result is bounded by the client\n",
					r.name, f, res.ClientCPU, serverTotal)
			}
		}
	}
	if a, b := results["zkd"], results["zookeeper"]; a != nil && b != nil {
		fmt.Println()
		fmt.Println("| writes | zkd / zookeeper |")
		fmt.Println("|---|---|")
		for _, f := range fractions {
			if b[f] > 0 {
				fmt.Printf("| %.0f%% | %.2f× |\n", f*100, a[f]/b[f])
			}
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
