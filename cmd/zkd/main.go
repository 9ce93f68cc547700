// Command zkd is the zkd server. With no arguments it runs standalone on
// 127.0.0.1:2181 with its data in ./zkd-data; -config reads an Apache
// ZooKeeper zoo.cfg; flags override both.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"zkd/engine"
	"zkd/netio"
)

// restoreGCPercent is GOGC while the store restores: the heap may grow
// to 5x what is live between collections, nearly all of it the tree.
const restoreGCPercent = 400

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zkd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("zkd", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "path of an Apache ZooKeeper zoo.cfg")
	addr := fs.String("addr", "", "client listen address host:port (overrides clientPortAddress/clientPort)")
	dataDir := fs.String("data", "", "data directory (overrides dataDir)")
	tick := fs.Duration("tick", 0, "tickTime (overrides zoo.cfg)")
	maxReq := fs.Int("max-request-bytes", 0, "largest request frame accepted (jute.maxbuffer)")
	snapCount := fs.Int("snap-count", 0, "transactions between snapshots (overrides snapCount)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log as JSON lines")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	myID := fs.Int("myid", 0, "this server's id in an ensemble (overrides dataDir/myid)")
	eventLoops := fs.Int("event-loops", 0, "client event loops (0: one per core; fewer leaves cores to other work on a shared host)")
	gcHeadroom := fs.Int("gc-headroom-mb", gcHeadroomDefault>>20, "heap growth allowed between collections once the live heap is big (MiB; 0 leaves GOGC alone, as does a GOGC environment variable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *eventLoops < 0 {
		return fmt.Errorf("bad -event-loops %d: 0 (one per core) or more", *eventLoops)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad -log-level: %w", err)
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if *logJSON {
		handler = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	}
	logger := slog.New(handler)

	cfg := defaultConfig()
	if *cfgPath != "" {
		f, err := os.Open(*cfgPath)
		if err != nil {
			return err
		}
		cfg, err = parseZooCfg(f, cfg)
		f.Close()
		if err != nil {
			return err
		}
	}
	if *addr != "" {
		cfg.Net.Addr = *addr
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *tick > 0 {
		cfg.Net.TickTime = *tick
	}
	if *maxReq > 0 {
		cfg.Net.MaxRequestBytes = *maxReq
	}
	if *snapCount > 0 {
		cfg.SnapCount = *snapCount
	}
	cfg.Net.EventLoops = *eventLoops
	for k, v := range cfg.Extra {
		logger.Info("zoo.cfg key not used by zkd", "key", k, "value", v)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	var srv *netio.Server
	if len(cfg.Servers) > 1 {
		id := *myID
		if id == 0 {
			var err error
			if id, err = readMyID(cfg.DataDir); err != nil {
				return err
			}
		}
		setup, err := setUpEnsemble(cfg, id, logger)
		if err != nil {
			return err
		}
		defer setup.storage.Close()
		if setup.client != "" && *addr == "" {
			cfg.Net.Addr = setup.client
		}
		cfg.Net.ServerID = int64(id)
		cfg.Net.LogStats = func() (txns, syncs uint64) {
			s := setup.storage.LogStats()
			return s.Txns, s.Syncs
		}
		tuner := newMemoryTuner(uint64(max(*gcHeadroom, 0))<<20, logger)
		tuner.afterRestore()
		defer tuner.close()
		srv = netio.NewEnsembleServer(cfg.Net, setup.tree, setup.ens, logger)
		if err := srv.Start(); err != nil {
			return err
		}
	} else {
		// Restoring a big tree allocates little besides what stays live, so
		// the collector's default (a cycle each time the heap doubles) would
		// mark the growing tree over and over: a quarter of the restore's CPU
		// for a million znodes. Collect rarely until the server is up.
		gcPercent := debug.SetGCPercent(restoreGCPercent)
		store, t, err := engine.OpenStore(engine.StoreOptions{
			DataDir: cfg.DataDir, LogDir: cfg.LogDir, NoSync: !cfg.ForceSync,
			SnapCount: cfg.SnapCount, SnapRetain: cfg.SnapRetainCount,
			// Apache ZooKeeper purges only with autopurge.purgeInterval > 0; the
			// built-in defaults purge after every snapshot.
			PurgeOnSnap: cfg.PurgeIntervalHour > 0 || *cfgPath == "",
			Logger:      logger,
		})
		debug.SetGCPercent(gcPercent)
		if err != nil {
			return err
		}
		defer store.Close()
		tuner := newMemoryTuner(uint64(max(*gcHeadroom, 0))<<20, logger)
		tuner.afterRestore()
		defer tuner.close()
		cfg.Net.LogStats = func() (txns, syncs uint64) {
			s := store.Log.Stats()
			return s.Txns, s.Syncs
		}
		srv = netio.NewServer(cfg.Net, t, store.Log, logger)
		if err := srv.Start(); err != nil {
			return err
		}
		store.StartSnapshots(t, srv.LastZxid, srv.WithTreeReadLock)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	done := make(chan struct{})
	go func() { srv.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		return fmt.Errorf("shutdown timed out")
	}
	logger.Info("stopped")
	return nil
}
