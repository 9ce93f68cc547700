package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"zkd/bench/wire"
	"zkd/netio/jute"
	"zkd/tree"
)

// LoadConfig is one load run.
type LoadConfig struct {
	Addrs         []string      // servers; sessions are spread evenly, each pinned to one
	Sessions      int           // client sessions
	Outstanding   int           // requests in flight per session
	ValueBytes    int           // data size of reads and writes
	WriteFraction float64       // 0 = all getData, 1 = all setData
	Znodes        int           // znodes the requests spread over
	Warmup        time.Duration // load before measuring
	Duration      time.Duration // measured window
	Rate          float64       // total requests/s; 0 = as fast as the servers answer
	Seed          uint64
	Prefix        string // parent znode; default /zkbench
	ServerPIDs    []int  // server processes whose CPU time the window records
}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Sessions <= 0 {
		c.Sessions = 30
	}
	if c.Outstanding <= 0 {
		c.Outstanding = 100
	}
	if c.ValueBytes <= 0 {
		c.ValueBytes = 1024
	}
	if c.Znodes <= 0 {
		c.Znodes = 100
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = "/zkbench"
	}
	return c
}

// LoadResult is what a run measured in its window.
type LoadResult struct {
	Config    LoadConfig
	Reads     int64
	Writes    int64
	Errors    int64
	Elapsed   time.Duration
	ReadLat   *hdrhistogram.Histogram // microseconds
	WriteLat  *hdrhistogram.Histogram // microseconds
	ClientCPU time.Duration           // the generator's own CPU time in the window
	ServerCPU []time.Duration         // CPU time of each ServerPIDs process in the window
}

// OpsPerSec is the measured throughput.
func (r *LoadResult) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Reads+r.Writes) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency over reads and writes.
func (r *LoadResult) Percentile(p float64) time.Duration {
	h := hdrhistogram.New(1, 60_000_000, 3)
	h.Merge(r.ReadLat)
	h.Merge(r.WriteLat)
	return time.Duration(h.ValueAtQuantile(p)) * time.Microsecond
}

// phase is shared by the session goroutines: 0 warm-up, 1 measuring, 2 done.
type phase struct{ v atomic.Int32 }

// RunLoad runs one load test and returns its measurements.
func RunLoad(cfg LoadConfig) (*LoadResult, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("bench: no server addresses")
	}
	if err := prepareZnodes(cfg); err != nil {
		return nil, fmt.Errorf("bench: creating znodes: %w", err)
	}
	conns := make([]*wire.Conn, cfg.Sessions)
	for i := range conns {
		c, err := wire.Dial(cfg.Addrs[i%len(cfg.Addrs)], wire.Options{Timeout: 30 * time.Second})
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("bench: session %d: %w", i, err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			_ = c.CloseSession()
		}
	}()

	var ph phase
	workers := make([]*worker, cfg.Sessions)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		workers[i] = newWorker(cfg, i, conns[i], &ph, start)
		wg.Add(1)
		go func(w *worker) { defer wg.Done(); w.run() }(workers[i])
	}
	time.Sleep(cfg.Warmup)
	cpu0, srv0 := processCPU(), serversCPU(cfg.ServerPIDs)
	t0 := time.Now()
	ph.v.Store(1)
	time.Sleep(cfg.Duration)
	ph.v.Store(2)
	elapsed := time.Since(t0)
	cpu1, srv1 := processCPU(), serversCPU(cfg.ServerPIDs)
	wg.Wait()

	res := &LoadResult{
		Config: cfg, Elapsed: elapsed, ClientCPU: cpu1 - cpu0,
		ReadLat: newHist(), WriteLat: newHist(),
	}
	for i := range srv0 {
		res.ServerCPU = append(res.ServerCPU, srv1[i]-srv0[i])
	}
	var firstErr error
	for _, w := range workers {
		res.Reads += w.reads
		res.Writes += w.writes
		res.Errors += w.errors
		res.ReadLat.Merge(w.readLat)
		res.WriteLat.Merge(w.writeLat)
		if w.err != nil && firstErr == nil {
			firstErr = w.err
		}
	}
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// prepareZnodes creates the parent and the znodes with ValueBytes of data.
func prepareZnodes(cfg LoadConfig) error {
	c, err := wire.Dial(cfg.Addrs[0], wire.Options{Timeout: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("bench: setup session: %w", err)
	}
	defer c.CloseSession()
	value := make([]byte, cfg.ValueBytes)
	create := func(path string, data []byte) error {
		h, err := c.Call(jute.OpCreate, &jute.CreateRequest{Path: path, Data: data, ACL: tree.OpenACLUnsafe}, nil)
		if err != nil {
			return err
		}
		if h.Err != jute.ErrOK && h.Err != jute.ErrNodeExists {
			return fmt.Errorf("bench: create %s: %v", path, h.Err)
		}
		return nil
	}
	if err := create(cfg.Prefix, nil); err != nil {
		return err
	}
	for i := 0; i < cfg.Znodes; i++ {
		if err := create(znodePath(cfg.Prefix, i), value); err != nil {
			return err
		}
	}
	// Reads at other servers must see the znodes: sync each target.
	for _, addr := range cfg.Addrs {
		s, err := wire.Dial(addr, wire.Options{Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		_, err = s.Call(jute.OpSync, &jute.PathRequest{Path: cfg.Prefix}, nil)
		_ = s.CloseSession()
		if err != nil {
			return err
		}
	}
	return nil
}

func znodePath(prefix string, i int) string { return fmt.Sprintf("%s/n%06d", prefix, i) }

func serversCPU(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		out[i], _ = ProcessCPU(pid)
	}
	return out
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// worker drives one session: it keeps Outstanding requests in flight and
// records the latency of each reply (replies come back in send order, so a
// FIFO of send times matches them up).
type worker struct {
	cfg   LoadConfig
	conn  *wire.Conn
	ph    *phase
	rng   *rand.Rand
	start time.Time
	index int

	paths    []string
	get      jute.PathWatchRequest
	set      jute.SetDataRequest
	sentAt   []int64 // ring of send times (ns since start)
	isWrite  []bool
	head     int
	inflight int
	sent     int64

	reads, writes, errors int64
	readLat, writeLat     *hdrhistogram.Histogram
	err                   error
}

func newWorker(cfg LoadConfig, index int, conn *wire.Conn, ph *phase, start time.Time) *worker {
	w := &worker{
		cfg: cfg, conn: conn, ph: ph, start: start, index: index,
		rng:      rand.New(rand.NewPCG(cfg.Seed, uint64(index)+1)),
		sentAt:   make([]int64, cfg.Outstanding),
		isWrite:  make([]bool, cfg.Outstanding),
		readLat:  newHist(),
		writeLat: newHist(),
	}
	w.paths = make([]string, cfg.Znodes)
	for i := range w.paths {
		w.paths[i] = znodePath(cfg.Prefix, i)
	}
	w.set.Data = make([]byte, cfg.ValueBytes)
	w.set.Version = -1
	return w
}

func (w *worker) run() {
	_ = w.conn.SetDeadline(time.Now().Add(w.cfg.Warmup + w.cfg.Duration + 60*time.Second))
	for w.inflight < w.cfg.Outstanding && w.ph.v.Load() < 2 {
		if !w.send() {
			return
		}
	}
	if err := w.conn.Flush(); err != nil {
		w.err = err
		return
	}
	for w.inflight > 0 {
		hdr, _, err := w.conn.Recv()
		if err != nil {
			w.err = fmt.Errorf("session %d (0x%x) with %d in flight: %w", w.index, w.conn.SessionID, w.inflight, err)
			return
		}
		if hdr.Xid < 0 {
			continue // a watch event or ping reply; none are asked for
		}
		now := time.Since(w.start).Nanoseconds()
		slot := (w.head + w.cfg.Outstanding - w.inflight) % w.cfg.Outstanding
		lat := (now - w.sentAt[slot]) / 1000
		write := w.isWrite[slot]
		w.inflight--
		if w.ph.v.Load() == 1 {
			if hdr.Err != jute.ErrOK {
				w.errors++
			}
			if write {
				w.writes++
				_ = w.writeLat.RecordValue(max(lat, 1))
			} else {
				w.reads++
				_ = w.readLat.RecordValue(max(lat, 1))
			}
		}
		if w.ph.v.Load() < 2 && !w.send() {
			return
		}
		// Flush only when no more replies are already buffered, so a burst
		// of replies produces one write syscall. Requests queued before the
		// window closed must still go out, or their replies never come.
		if w.conn.Buffered() == 0 {
			if err := w.conn.Flush(); err != nil {
				w.err = err
				return
			}
		}
	}
}

// send issues one request, pacing it when a rate is set.
func (w *worker) send() bool {
	if w.cfg.Rate > 0 {
		perSession := w.cfg.Rate / float64(w.cfg.Sessions)
		due := w.start.Add(time.Duration(float64(w.sent) / perSession * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			if err := w.conn.Flush(); err != nil {
				w.err = err
				return false
			}
			time.Sleep(d)
		}
	}
	path := w.paths[w.rng.IntN(len(w.paths))]
	write := w.rng.Float64() < w.cfg.WriteFraction
	var err error
	if write {
		w.set.Path = path
		_, err = w.conn.Send(jute.OpSetData, &w.set)
	} else {
		w.get.Path = path
		_, err = w.conn.Send(jute.OpGetData, &w.get)
	}
	if err != nil {
		w.err = err
		return false
	}
	w.sentAt[w.head] = time.Since(w.start).Nanoseconds()
	w.isWrite[w.head] = write
	w.head = (w.head + 1) % w.cfg.Outstanding
	w.inflight++
	w.sent++
	return true
}
