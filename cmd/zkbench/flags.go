package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"zkd/bench"
)

// loadFlags are the workload's parameters, shared by table and curve.
type loadFlags struct {
	sessions, outstanding, size, znodes int
	warmup, duration                    time.Duration
	rate                                float64
	seed                                uint64
}

func addLoadFlags(fs *flag.FlagSet) *loadFlags {
	l := &loadFlags{}
	fs.IntVar(&l.sessions, "sessions", 30, "client sessions, spread evenly over the servers, each pinned to one")
	fs.IntVar(&l.outstanding, "outstanding", 100, "requests in flight per session")
	fs.IntVar(&l.size, "size", 1024, "value size of reads and writes, bytes")
	fs.IntVar(&l.znodes, "znodes", 100, "pre-created znodes the requests spread over")
	fs.DurationVar(&l.warmup, "warmup", 10*time.Second, "load before each measured window (a JVM needs tens of seconds)")
	fs.DurationVar(&l.duration, "duration", 10*time.Second, "measured window of each cell")
	fs.Float64Var(&l.rate, "rate", 0, "total requests/s; 0 saturates")
	fs.Uint64Var(&l.seed, "seed", 1, "seed of the request mix")
	return l
}

func (l *loadFlags) config() bench.LoadConfig {
	return bench.LoadConfig{Sessions: l.sessions, Outstanding: l.outstanding, ValueBytes: l.size, Znodes: l.znodes,
		Warmup: l.warmup, Duration: l.duration, Rate: l.rate, Seed: l.seed}
}

// systemFlags choose what is measured.
type systemFlags struct {
	systems   string
	hosts     string
	hostsName string
	hostsPIDs string
	zkdBin    string
	zkdArgs   string
	jvmHeap   string
	zkSync    bool
}

func addSystemFlags(fs *flag.FlagSet) *systemFlags {
	s := &systemFlags{}
	fs.StringVar(&s.systems, "systems", "zkd,zookeeper", "systems to measure, in order: zkd, zookeeper (started on loopback), hosts (the -hosts list); the first two give the ratio column")
	fs.StringVar(&s.hosts, "hosts", "", "host:port,... of an ensemble already running (implies -systems hosts unless -systems is given)")
	fs.StringVar(&s.hostsName, "hosts-name", "hosts", "name of the -hosts ensemble in the tables")
	fs.StringVar(&s.hostsPIDs, "hosts-pids", "", "PIDs of the -hosts servers on this machine, same order, for CPU figures")
	fs.StringVar(&s.zkdBin, "zkd-bin", "", "zkd binary (default: build ./cmd/zkd of this module)")
	fs.StringVar(&s.zkdArgs, "zkd-args", "", "extra flags for every zkd server, space-separated")
	fs.StringVar(&s.jvmHeap, "jvm-heap", "-Xmx1g", "heap flag for each Apache ZooKeeper JVM")
	fs.BoolVar(&s.zkSync, "zk-fsync", true, "let Apache ZooKeeper fsync its log (forceSync=yes), as zkd does")
	return s
}

// launchers builds the systems' launchers; cleanup removes a zkd binary
// built for the run. notes describe the configuration for the report.
func (s *systemFlags) launchers(fs *flag.FlagSet) (ls []bench.Launcher, notes []string, cleanup func(), err error) {
	cleanup = func() {}
	names := splitList(s.systems)
	if s.hosts != "" && !flagSet(fs, "systems") {
		names = []string{"hosts"}
	}
	for _, name := range names {
		switch name {
		case "zkd":
			bin, c, err := zkdBinary(s.zkdBin)
			if err != nil {
				return nil, nil, cleanup, err
			}
			cleanup = c
			ls = append(ls, bench.ZkdLauncher{Bin: bin, Args: strings.Fields(s.zkdArgs)})
			note := "zkd: durable (fsync before acknowledging)"
			if s.zkdArgs != "" {
				note += ", flags " + s.zkdArgs
			}
			notes = append(notes, note)
		case "zookeeper":
			ls = append(ls, bench.ZooKeeperLauncher{ForceSync: s.zkSync, JVMFlags: strings.Fields(s.jvmHeap)})
			notes = append(notes, fmt.Sprintf("zookeeper: Apache ZooKeeper 3.8 (Debian), forceSync=%s, %s", yesNo(s.zkSync), s.jvmHeap))
		case "hosts":
			if s.hosts == "" {
				return nil, nil, cleanup, errors.New("-systems hosts needs -hosts")
			}
			pids, err := parseInts(s.hostsPIDs)
			if err != nil {
				return nil, nil, cleanup, fmt.Errorf("-hosts-pids: %w", err)
			}
			ls = append(ls, bench.HostsLauncher{Name: s.hostsName, HostAddrs: splitList(s.hosts), HostPIDs: pids})
			notes = append(notes, fmt.Sprintf("%s: existing ensemble %s", s.hostsName, s.hosts))
		default:
			return nil, nil, cleanup, fmt.Errorf("unknown system %q (zkd, zookeeper, hosts)", name)
		}
	}
	if len(ls) == 0 {
		return nil, nil, cleanup, errors.New("no system to measure")
	}
	return ls, notes, cleanup, nil
}

// capacityFlags shape the capacity-planning predictions.
type capacityFlags struct {
	cores string
	nic   float64
}

func addCapacityFlags(fs *flag.FlagSet) *capacityFlags {
	c := &capacityFlags{}
	fs.StringVar(&c.cores, "cores", "4,8,16", "cores per server for the capacity predictions")
	fs.Float64Var(&c.nic, "nic-gbps", 10, "each server's outbound network for the capacity predictions, Gbit/s (0: unbounded)")
	return c
}

func (c *capacityFlags) options() (bench.CapacityOptions, error) {
	cores, err := parseInts(c.cores)
	if err != nil {
		return bench.CapacityOptions{}, fmt.Errorf("-cores: %w", err)
	}
	net := bench.DefaultNet
	net.BytesPerSec = c.nic * 1e9 / 8
	return bench.CapacityOptions{Cores: cores, Net: &net}, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// flagSet reports whether the flag was given on the command line.
// ensembleSizes parses -servers; with -hosts and no -servers, the one size
// is the host list's.
func ensembleSizes(fs *flag.FlagSet, servers string, sys *systemFlags) ([]int, error) {
	if sys.hosts != "" && !flagSet(fs, "servers") {
		return []int{len(splitList(sys.hosts))}, nil
	}
	sizes, err := parseInts(servers)
	if err != nil {
		return nil, fmt.Errorf("-servers: %w", err)
	}
	return sizes, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseFractions reads write fractions: "0,0.01,0.5,1" or with percent
// signs, "0%,1%,50%,100%".
func parseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		scale := 1.0
		if strings.HasSuffix(f, "%") {
			f, scale = strings.TrimSuffix(f, "%"), 0.01
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v*scale < 0 || v*scale > 1 {
			return nil, fmt.Errorf("bad write fraction %q (0..1 or 0%%..100%%)", f)
		}
		out = append(out, v*scale)
	}
	if len(out) == 0 {
		return nil, errors.New("no write fractions")
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// commandOf is the command line of a subcommand run, for the reports.
func commandOf(sub string, args []string) string {
	return bench.CommandLine(append([]string{os.Args[0], sub}, args...))
}

// moduleRoot finds the directory of the enclosing go.mod, from the
// working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 64; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("no go.mod above the working directory: run from the zkd module or pass -zkd-bin")
}

// progressFor returns a progress line on stderr when it is a terminal.
func progressFor(stderr io.Writer) *bench.Progress {
	if f, ok := stderr.(*os.File); ok {
		return bench.NewProgress(f)
	}
	return nil
}

// writeFiles writes each file into dir (created if missing); nothing
// when dir is empty.
func writeFiles(dir string, files map[string]func(io.Writer) error) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range files {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		werr := write(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing %s: %w", name, werr)
		}
	}
	return nil
}
