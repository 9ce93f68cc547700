package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// gcHeadroomDefault is how far the heap may grow past what is live
	// before a collection, once the live heap is big: the collector's
	// default (GOGC 100, a cycle when the heap doubles) would let a
	// million-znode server take twice its tree in memory. A cycle costs
	// little here because the tree holds no pointers (tree/arena.go):
	// the collector marks a few hundred slabs, not a million nodes.
	gcHeadroomDefault = 32 << 20
	gcPercentMin      = 10
	gcPercentMax      = 100 // Go's default, kept for small heaps
	gcTunePeriod      = time.Second

	// When the heap holds more than freeReturnBytes of free memory (a
	// burst of garbage, a fill, is over), all of it goes back to the
	// system at once, at most once per freeReturnPeriod: the runtime's
	// own scavenger returns it a little at a time.
	freeReturnBytes  = 64 << 20
	freeReturnPeriod = 10 * time.Second
)

// gcPercentFor returns the GOGC that lets a heap with live bytes grow by
// headroom bytes, within [gcPercentMin, gcPercentMax].
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	return int(min(max(headroom*100/live, gcPercentMin), gcPercentMax))
}

// memoryTuner keeps the heap's growth between collections near a fixed
// headroom instead of a multiple of the live heap. It does nothing when
// GOGC is set in the environment (the operator decided) or headroom is 0.
type memoryTuner struct {
	headroom uint64
	logger   *slog.Logger
	stop     chan struct{}
	done     chan struct{}
	sample   []metrics.Sample
	percent  int
	returned time.Time // last time free memory went back at once
}

func newMemoryTuner(headroom uint64, logger *slog.Logger) *memoryTuner {
	if headroom == 0 || os.Getenv("GOGC") != "" {
		return nil
	}
	return &memoryTuner{
		headroom: headroom, logger: logger,
		stop: make(chan struct{}), done: make(chan struct{}),
		sample: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/memory/classes/heap/free:bytes"},
		},
		percent: gcPercentMax,
	}
}

// afterRestore collects the restore's garbage and gives the memory back
// to the system, so the server starts at its live size, then starts the
// periodic tuning.
func (m *memoryTuner) afterRestore() {
	if m == nil {
		return
	}
	debug.FreeOSMemory()
	m.returned = time.Now()
	m.tune()
	go m.loop()
}

func (m *memoryTuner) loop() {
	defer close(m.done)
	tick := time.NewTicker(gcTunePeriod)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.tune()
		}
	}
}

func (m *memoryTuner) tune() {
	metrics.Read(m.sample)
	if m.sample[0].Value.Kind() != metrics.KindUint64 || m.sample[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	live, free := m.sample[0].Value.Uint64(), m.sample[1].Value.Uint64()
	if free > freeReturnBytes && time.Since(m.returned) > freeReturnPeriod {
		debug.FreeOSMemory()
		m.returned = time.Now()
		m.logger.Debug("free heap memory returned", "free_bytes", free)
	}
	p := gcPercentFor(live, m.headroom)
	// Small moves are noise; a change of a tenth or more is applied.
	if diff := p - m.percent; diff*10 > m.percent || -diff*10 > m.percent {
		debug.SetGCPercent(p)
		m.logger.Debug("GOGC tuned", "percent", p, "live_bytes", live)
		m.percent = p
	}
}

// close stops the tuning started by afterRestore.
func (m *memoryTuner) close() {
	if m == nil {
		return
	}
	close(m.stop)
	<-m.done
}
