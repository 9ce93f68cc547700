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

// Bounds of a load run.
const (
	sessionsMax     = 10_000
	outstandingMax  = 100_000
	valueBytesMax   = 1 << 20
	znodesMax       = 1_000_000
	latencyMaxMicro = 60_000_000 // histograms cover 1 µs .. 60 s
	tickInterval    = time.Second
	drainTimeout    = 60 * time.Second // replies still due after the window
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
	// ServerPIDs are the server processes whose CPU time the window
	// records; when it has one entry per address, entry i is Addrs[i].
	ServerPIDs []int
	// ProbeServers reads each server's counters (srvr: zxid and mode;
	// mntr: fsyncs) at the start and end of the window.
	ProbeServers bool
	// OnTick, when set, is called about once a second from RunLoad's own
	// goroutine with the phase ("warmup" or "measure") and the ops/s
	// answered in the last interval. It must return quickly.
	OnTick func(phase string, opsPerSec float64)
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

func (c LoadConfig) validate() error {
	switch {
	case len(c.Addrs) == 0:
		return errors.New("bench: no server addresses")
	case c.Sessions > sessionsMax:
		return fmt.Errorf("bench: %d sessions, at most %d", c.Sessions, sessionsMax)
	case c.Outstanding > outstandingMax:
		return fmt.Errorf("bench: %d outstanding, at most %d", c.Outstanding, outstandingMax)
	case c.ValueBytes > valueBytesMax:
		return fmt.Errorf("bench: %d-byte values, at most %d", c.ValueBytes, valueBytesMax)
	case c.Znodes > znodesMax:
		return fmt.Errorf("bench: %d znodes, at most %d", c.Znodes, znodesMax)
	case c.WriteFraction < 0 || c.WriteFraction > 1:
		return fmt.Errorf("bench: write fraction %g outside 0..1", c.WriteFraction)
	case c.Rate < 0:
		return fmt.Errorf("bench: negative rate %g", c.Rate)
	}
	return nil
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

	// Frame bytes (length prefix included) of the requests and replies
	// counted in the window, by operation type.
	ReadRequestBytes, ReadReplyBytes   int64
	WriteRequestBytes, WriteReplyBytes int64
	// Socket bytes of all sessions in the window (TCP payload).
	SocketBytesIn, SocketBytesOut int64

	// Servers holds one entry per address when ProbeServers was set.
	Servers []ServerWindow
}

// ServerWindow is one server's share of the window.
type ServerWindow struct {
	Addr string
	Role string        // "leader", "follower", "standalone", "" when unknown
	PID  int           // 0 when unknown
	CPU  time.Duration // -1 when unknown
	// Txns is the zxid advance seen by this server (-1 when unknown, e.g.
	// a new epoch began); Fsyncs the fsyncs (group commits) its log did
	// (-1 when its mntr does not say).
	Txns, Fsyncs int64
	// Probed is the time between the two probes (slightly longer than
	// the window, since the probes straddle it).
	Probed time.Duration
	// Reads and Writes are the requests of the sessions pinned to this
	// server that were answered in the window.
	Reads, Writes int64
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
	h := newHist()
	h.Merge(r.ReadLat)
	h.Merge(r.WriteLat)
	return time.Duration(h.ValueAtQuantile(p)) * time.Microsecond
}

// ServerCPUTotal sums the servers' CPU time in the window.
func (r *LoadResult) ServerCPUTotal() time.Duration {
	var t time.Duration
	for _, c := range r.ServerCPU {
		t += c
	}
	return t
}

// ClientCPUShare is the generator's CPU time over its own plus the
// servers'; -1 when the servers' CPU is unknown.
func (r *LoadResult) ClientCPUShare() float64 {
	s := r.ServerCPUTotal()
	if len(r.ServerCPU) == 0 || s+r.ClientCPU <= 0 {
		return -1
	}
	return float64(r.ClientCPU) / float64(r.ClientCPU+s)
}

// ClientBound reports whether the generator used more CPU than all the
// servers together: then the figure measures the client, not the servers.
func (r *LoadResult) ClientBound() bool {
	s := r.ServerCPUTotal()
	return len(r.ServerCPU) > 0 && s > 0 && r.ClientCPU > s
}

// phase is shared by the session goroutines: 0 warm-up, 1 measuring, 2 done.
type phase struct{ v atomic.Int32 }

// RunLoad runs one load test and returns its measurements.
func RunLoad(cfg LoadConfig) (*LoadResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
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
	pace(cfg, workers, "warmup", cfg.Warmup)

	var probes0 []serverProbe
	probeStart := time.Now()
	if cfg.ProbeServers {
		probes0 = probeAll(cfg.Addrs)
	}
	cpu0, srv0 := processCPU(), serversCPU(cfg.ServerPIDs)
	in0, out0 := socketBytes(conns)
	t0 := time.Now()
	ph.v.Store(1)
	pace(cfg, workers, "measure", cfg.Duration)
	ph.v.Store(2)
	elapsed := time.Since(t0)
	cpu1, srv1 := processCPU(), serversCPU(cfg.ServerPIDs)
	in1, out1 := socketBytes(conns)
	var probes1 []serverProbe
	if cfg.ProbeServers {
		probes1 = probeAll(cfg.Addrs)
	}
	probed := time.Since(probeStart)
	wg.Wait()

	res := &LoadResult{
		Config: cfg, Elapsed: elapsed, ClientCPU: cpu1 - cpu0,
		ReadLat: newHist(), WriteLat: newHist(),
		SocketBytesIn: in1 - in0, SocketBytesOut: out1 - out0,
	}
	for i := range srv0 {
		res.ServerCPU = append(res.ServerCPU, srv1[i]-srv0[i])
	}
	if cfg.ProbeServers {
		res.Servers = serverWindows(cfg, probes0, probes1, res.ServerCPU, probed)
	}
	var firstErr error
	for i, w := range workers {
		if cfg.ProbeServers {
			sw := &res.Servers[i%len(cfg.Addrs)]
			sw.Reads += w.reads
			sw.Writes += w.writes
		}
		res.Reads += w.reads
		res.Writes += w.writes
		res.Errors += w.errors
		res.ReadRequestBytes += w.readReqBytes
		res.ReadReplyBytes += w.readRepBytes
		res.WriteRequestBytes += w.writeReqBytes
		res.WriteReplyBytes += w.writeRepBytes
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

// pace waits for d, reporting progress through cfg.OnTick each second.
func pace(cfg LoadConfig, workers []*worker, name string, d time.Duration) {
	if d <= 0 {
		return
	}
	if cfg.OnTick == nil {
		time.Sleep(d)
		return
	}
	end := time.Now().Add(d)
	last, lastAt := answered(workers), time.Now()
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, tickInterval))
		n, now := answered(workers), time.Now()
		if dt := now.Sub(lastAt).Seconds(); dt > 0 {
			cfg.OnTick(name, float64(n-last)/dt)
		}
		last, lastAt = n, now
	}
}

func answered(workers []*worker) int64 {
	var n int64
	for _, w := range workers {
		n += w.answered.Load()
	}
	return n
}

func socketBytes(conns []*wire.Conn) (in, out int64) {
	for _, c := range conns {
		in += c.BytesIn()
		out += c.BytesOut()
	}
	return in, out
}

func serverWindows(cfg LoadConfig, p0, p1 []serverProbe, cpu []time.Duration, probed time.Duration) []ServerWindow {
	out := make([]ServerWindow, len(cfg.Addrs))
	for i, addr := range cfg.Addrs {
		sw := ServerWindow{Addr: addr, Role: p1[i].role, CPU: -1, Txns: -1, Fsyncs: -1, Probed: probed}
		if sw.Role == "" {
			sw.Role = p0[i].role
		}
		if len(cfg.ServerPIDs) == len(cfg.Addrs) {
			sw.PID, sw.CPU = cfg.ServerPIDs[i], cpu[i]
		}
		a, b := p0[i], p1[i]
		if a.ok && b.ok && a.zxid>>32 == b.zxid>>32 && b.zxid >= a.zxid {
			sw.Txns = b.zxid - a.zxid
		}
		if a.fsyncs >= 0 && b.fsyncs >= a.fsyncs {
			sw.Fsyncs = b.fsyncs - a.fsyncs
		}
		out[i] = sw
	}
	return out
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, latencyMaxMicro, 3) }

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
//
// The hot path (send, flush, receive) allocates nothing once the
// connection's buffers have grown; TestWorkerAllocs holds it to that.
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
	reqBytes []int32 // ring of request frame sizes
	head     int
	inflight int
	sent     int64
	answered atomic.Int64 // replies in any phase, read by pace

	reads, writes, errors        int64
	readReqBytes, readRepBytes   int64
	writeReqBytes, writeRepBytes int64
	readLat, writeLat            *hdrhistogram.Histogram
	err                          error
}

func newWorker(cfg LoadConfig, index int, conn *wire.Conn, ph *phase, start time.Time) *worker {
	w := &worker{
		cfg: cfg, conn: conn, ph: ph, start: start, index: index,
		rng:      rand.New(rand.NewPCG(cfg.Seed, uint64(index)+1)),
		sentAt:   make([]int64, cfg.Outstanding),
		isWrite:  make([]bool, cfg.Outstanding),
		reqBytes: make([]int32, cfg.Outstanding),
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
	_ = w.conn.SetDeadline(time.Now().Add(w.cfg.Warmup + w.cfg.Duration + drainTimeout))
	if w.cfg.Rate > 0 {
		w.runPaced()
		return
	}
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
		if !w.receive() {
			return
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

// receive reads the reply to the oldest request in flight and records it.
func (w *worker) receive() bool {
	hdr, err := w.recvReply()
	if err != nil {
		w.err = err
		return false
	}
	slot := (w.head + w.cfg.Outstanding - w.inflight) % w.cfg.Outstanding
	w.inflight--
	w.record(hdr.Err, w.isWrite[slot], w.sentAt[slot], w.reqBytes[slot])
	return true
}

// recvReply reads the next reply, skipping watch events and pings.
func (w *worker) recvReply() (jute.ReplyHeader, error) {
	for {
		hdr, _, err := w.conn.Recv()
		if err != nil {
			return hdr, fmt.Errorf("session %d (0x%x): %w", w.index, w.conn.SessionID, err)
		}
		if hdr.Xid >= 0 {
			return hdr, nil
		}
	}
}

// record counts one reply (the one just read) whose request went out at
// sentAt (ns since start).
func (w *worker) record(code jute.Err, write bool, sentAt int64, reqBytes int32) {
	lat := (time.Since(w.start).Nanoseconds() - sentAt) / 1000
	w.answered.Add(1)
	if w.ph.v.Load() != 1 {
		return
	}
	if code != jute.ErrOK {
		w.errors++
	}
	rep := int64(w.conn.LastRecvBytes)
	if write {
		w.writes++
		w.writeReqBytes += int64(reqBytes)
		w.writeRepBytes += rep
		_ = w.writeLat.RecordValue(max(lat, 1))
	} else {
		w.reads++
		w.readReqBytes += int64(reqBytes)
		w.readRepBytes += rep
		_ = w.readLat.RecordValue(max(lat, 1))
	}
}

// issue encodes and queues one request on a random znode.
func (w *worker) issue() (write bool, err error) {
	path := w.paths[w.rng.IntN(len(w.paths))]
	write = w.rng.Float64() < w.cfg.WriteFraction
	if write {
		w.set.Path = path
		_, err = w.conn.Send(jute.OpSetData, &w.set)
	} else {
		w.get.Path = path
		_, err = w.conn.Send(jute.OpGetData, &w.get)
	}
	return write, err
}

// send issues one request as fast as the window allows.
func (w *worker) send() bool {
	write, err := w.issue()
	if err != nil {
		w.err = err
		return false
	}
	w.sentAt[w.head] = time.Since(w.start).Nanoseconds()
	w.isWrite[w.head] = write
	w.reqBytes[w.head] = int32(w.conn.LastSentBytes)
	w.head = (w.head + 1) % w.cfg.Outstanding
	w.inflight++
	w.sent++
	return true
}

// pacedReq is what the paced sender tells the receiver about a request.
type pacedReq struct {
	sentAt   int64
	reqBytes int32
	write    bool
}

// runPaced sends on a schedule (Rate / Sessions requests per second) from
// one goroutine and reads replies as they arrive on another, so a reply
// is timed when it comes rather than when the sender next wakes. At most
// Outstanding requests are in flight; a request held back by that limit
// (or by a slow sender) has its latency counted from when it was due,
// not from when it went out, so a server that falls behind the rate is
// charged for the wait it caused (no coordinated omission).
func (w *worker) runPaced() {
	slots := make(chan struct{}, w.cfg.Outstanding)    // one token per request in flight
	inflight := make(chan pacedReq, w.cfg.Outstanding) // FIFO of requests sent
	recvDone := make(chan struct{})
	var recvErr error
	go func() {
		defer close(recvDone)
		for r := range inflight {
			hdr, err := w.recvReply()
			if err != nil {
				recvErr = err
				return
			}
			w.record(hdr.Err, r.write, r.sentAt, r.reqBytes)
			<-slots
		}
	}()
	perSession := w.cfg.Rate / float64(w.cfg.Sessions)
	var sendErr error
send:
	for w.ph.v.Load() < 2 {
		dueNs := int64(float64(w.sent) / perSession * float64(time.Second))
		late := true
		if d := time.Duration(dueNs - time.Since(w.start).Nanoseconds()); d > 0 {
			if sendErr = w.conn.Flush(); sendErr != nil {
				break
			}
			time.Sleep(d)
			late = false
		}
		select {
		case slots <- struct{}{}:
		default:
			// The window is full: what is queued must go out before
			// waiting for a reply to free a slot.
			late = true
			if sendErr = w.conn.Flush(); sendErr != nil {
				break send
			}
			select {
			case slots <- struct{}{}:
			case <-recvDone:
				break send
			}
		}
		write, err := w.issue()
		if err != nil {
			sendErr = err
			break
		}
		sentAt := time.Since(w.start).Nanoseconds()
		if late {
			sentAt = min(sentAt, dueNs)
		}
		w.sent++
		inflight <- pacedReq{sentAt: sentAt, reqBytes: int32(w.conn.LastSentBytes), write: write}
	}
	if sendErr == nil {
		sendErr = w.conn.Flush()
	}
	if sendErr != nil {
		// Replies to requests that never went out will not come: unblock
		// the receiver.
		_ = w.conn.Close()
	}
	close(inflight)
	<-recvDone
	w.err = errors.Join(sendErr, recvErr)
}
