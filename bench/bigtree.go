package bench

// Big-tree benchmarks (the engine issue's benchmarks 2 and 3): a server
// holding a million znodes, its snapshot time and size, how long a
// restart takes until it serves, its resident memory, and the write
// latency while snapshots run.
//
// The tree: Nodes leaves of ValueBytes each, Fanout leaves per directory
// (/bigtree/d0000/n0000000 ...), so no node has a million children; the
// directories and the marker node hold little data and are not counted in
// Nodes. A leaf's value is a function of its index and a generation, so a
// reader can tell which write it sees. Two payload kinds:
//   - "random": uniformly random bytes, incompressible (the worst case for
//     a compressed snapshot).
//   - "json": a service-registration record such as Kafka or Curator
//     service discovery keep in ZooKeeper,
//     {"id":123,"host":"worker-0000123.rack03.dc1","port":9095,...}, padded
//     with spaces to ValueBytes; it differs between nodes only in its
//     numbers, so it compresses well.
//
// Contract for a campaign (RunBigTree):
//  1. Make a BigServer (NewZkdBig, NewZooKeeperBig); it owns a data
//     directory that survives restarts.
//  2. RunBigTree starts it, fills it, restarts it several times and runs
//     the paced write load, stopping it by PID after each step; every
//     wait is bounded.
//  3. Close the BigServer: it stops a running process and removes the
//     data directory.
//
// Cost sketch (1M nodes of 100 bytes): a fill sends ~1M creates of ~140
// bytes (140 MB on loopback), pipelined on FillConns connections with up
// to FillOutstanding each; zkd applies ~100k creates/s here, ZooKeeper
// ~30k/s, so the fill takes 10-60 s. A snapshot holds ~100 MB of values
// plus ~20-40 bytes a node of path and Stat (zkd compresses it with zstd).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"zkd/bench/wire"
	"zkd/netio/jute"
	"zkd/tools/refzk"
	"zkd/tree"
)

// Payload kinds for BigTree.Payload.
const (
	PayloadRandom = "random"
	PayloadJSON   = "json"
)

// Defaults and bounds of the big-tree benchmarks.
const (
	bigTreePrefixDefault   = "/bigtree"
	bigTreeFanoutDefault   = 1000
	bigTreeValueBytesDef   = 100
	fillConnsDefault       = 8
	fillOutstandingDefault = 1000
	fillTimeoutDefault     = 30 * time.Minute
	serveTimeoutDefault    = 10 * time.Minute
	servePollEvery         = 10 * time.Millisecond
	serveDialTimeout       = time.Second
	pacedInFlightMax       = 20000 // per session: requests sent and not answered
	pacedDrainTimeout      = 2 * time.Minute
	snapWaitTimeout        = 10 * time.Minute
	snapCountHugeDefault   = 1_000_000_000
	snapCountSmallDefault  = 10_000
	jcmdTimeout            = 2 * time.Minute
	sessionTimeoutBig      = 30 * time.Second
)

// BigTree describes the tree a fill creates.
type BigTree struct {
	Prefix     string // parent of the directories; default /bigtree
	Nodes      int    // leaves
	Fanout     int    // leaves per directory; default 1000
	ValueBytes int    // default 100
	Payload    string // PayloadRandom (default) or PayloadJSON
	Seed       uint64
}

// WithDefaults fills zero fields.
func (b BigTree) WithDefaults() BigTree {
	if b.Prefix == "" {
		b.Prefix = bigTreePrefixDefault
	}
	if b.Fanout <= 0 {
		b.Fanout = bigTreeFanoutDefault
	}
	if b.ValueBytes <= 0 {
		b.ValueBytes = bigTreeValueBytesDef
	}
	if b.Payload == "" {
		b.Payload = PayloadRandom
	}
	return b
}

// Dirs is the number of directories under Prefix.
func (b BigTree) Dirs() int { return (b.Nodes + b.Fanout - 1) / b.Fanout }

// DirPath is directory d's path.
func (b BigTree) DirPath(d int) string { return fmt.Sprintf("%s/d%04d", b.Prefix, d) }

// LeafPath is leaf i's path.
func (b BigTree) LeafPath(i int) string {
	return fmt.Sprintf("%s/d%04d/n%07d", b.Prefix, i/b.Fanout, i)
}

// MarkerPath is the node written last before each stop; reading its last
// value proves the whole log was replayed.
func (b BigTree) MarkerPath() string { return b.Prefix + "/last" }

// Value appends leaf i's value for write generation gen to dst[:0].
func (b BigTree) Value(dst []byte, i int, gen uint64) []byte {
	dst = dst[:0]
	switch b.Payload {
	case PayloadJSON:
		dst = fmt.Appendf(dst, `{"id":%d,"host":"worker-%07d.rack%02d.dc1","port":%d,"state":"RUNNING","gen":%d}`,
			i, i, i%40, 9092+i%4, gen)
		if len(dst) > b.ValueBytes {
			return dst[:b.ValueBytes]
		}
		for len(dst) < b.ValueBytes {
			dst = append(dst, ' ')
		}
		return dst
	default:
		var r rand.PCG
		r.Seed(b.Seed^gen*0x9e3779b97f4a7c15, uint64(i))
		for len(dst) < b.ValueBytes {
			v := r.Uint64()
			for k := 0; k < 8 && len(dst) < b.ValueBytes; k++ {
				dst = append(dst, byte(v>>(8*k)))
			}
		}
		return dst
	}
}

// pipelined sends n requests on c with at most window unanswered, from a
// sender goroutine, and hands every reply to onReply in order. build(k)
// returns the k-th request; its record may be reused once build is called
// again. The whole exchange is bounded by c's deadline, which the caller
// sets.
func pipelined(c *wire.Conn, n, window int, build func(k int) (jute.Op, jute.Record), onReply func(k int, h jute.ReplyHeader, body []byte) error) error {
	sem := make(chan struct{}, window)
	quit := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() {
		err := func() error {
			for k := 0; k < n; k++ {
				select {
				case sem <- struct{}{}:
				default:
					// The window is full: push out what is queued, then wait.
					if err := c.Flush(); err != nil {
						return err
					}
					select {
					case sem <- struct{}{}:
					case <-quit:
						return nil
					}
				}
				op, rec := build(k)
				if _, err := c.Send(op, rec); err != nil {
					return err
				}
			}
			return c.Flush()
		}()
		if err != nil {
			_ = c.Close() // the receiver would wait for replies that never come
		}
		sendErr <- err
	}()
	var err error
	for k := 0; k < n; {
		h, body, rerr := c.Recv()
		if rerr != nil {
			err = rerr
			break
		}
		if h.Xid < 0 {
			continue // a ping or event; none were asked for
		}
		if e := onReply(k, h, body); e != nil {
			err = e
			break
		}
		<-sem
		k++
	}
	close(quit)
	if err != nil {
		// Unblock a sender stuck in a write before waiting for it.
		_ = c.Close()
	}
	return errors.Join(<-sendErr, err)
}

// FillResult is what a fill did.
type FillResult struct {
	Nodes   int           // leaves created
	Dirs    int           // directories created
	Elapsed time.Duration // first create sent to last reply
}

// CreatesPerSec is the fill's rate over leaves and directories.
func (r FillResult) CreatesPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Nodes+r.Dirs) / r.Elapsed.Seconds()
}

// FillBigTree creates b's prefix, directories and leaves on the server at
// addr: the directories pipelined on one connection, then the leaves in
// conns contiguous ranges, each on its own connection with up to
// outstanding creates in flight. A create that finds its node already
// there is an error: fill a fresh server.
func FillBigTree(addr string, b BigTree, conns, outstanding int) (FillResult, error) {
	b = b.WithDefaults()
	if conns <= 0 {
		conns = fillConnsDefault
	}
	if outstanding <= 0 {
		outstanding = fillOutstandingDefault
	}
	deadline := time.Now().Add(fillTimeoutDefault)
	started := time.Now()
	c, err := wire.Dial(addr, wire.Options{Timeout: sessionTimeoutBig})
	if err != nil {
		return FillResult{}, fmt.Errorf("bench: fill: %w", err)
	}
	defer c.CloseSession()
	_ = c.SetDeadline(deadline)
	h, err := c.Call(jute.OpCreate, &jute.CreateRequest{Path: b.Prefix, ACL: tree.OpenACLUnsafe}, nil)
	if err != nil {
		return FillResult{}, fmt.Errorf("bench: fill: create %s: %w", b.Prefix, err)
	}
	if h.Err != jute.ErrOK {
		return FillResult{}, fmt.Errorf("bench: fill: create %s: %v", b.Prefix, h.Err)
	}
	dirs := b.Dirs()
	var req jute.CreateRequest
	req.ACL = tree.OpenACLUnsafe
	checkOK := func(path func(int) string) func(int, jute.ReplyHeader, []byte) error {
		return func(k int, h jute.ReplyHeader, _ []byte) error {
			if h.Err != jute.ErrOK {
				return fmt.Errorf("bench: fill: create %s: %v", path(k), h.Err)
			}
			return nil
		}
	}
	err = pipelined(c, dirs, outstanding, func(k int) (jute.Op, jute.Record) {
		req.Path = b.DirPath(k)
		return jute.OpCreate, &req
	}, checkOK(b.DirPath))
	if err != nil {
		return FillResult{}, err
	}

	conns = min(conns, max(b.Nodes, 1))
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for ci := 0; ci < conns; ci++ {
		lo, hi := b.Nodes*ci/conns, b.Nodes*(ci+1)/conns
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc, err := wire.Dial(addr, wire.Options{Timeout: sessionTimeoutBig})
			if err != nil {
				errs[ci] = fmt.Errorf("bench: fill connection %d: %w", ci, err)
				return
			}
			defer lc.CloseSession()
			_ = lc.SetDeadline(deadline)
			var r jute.CreateRequest
			r.ACL = tree.OpenACLUnsafe
			var val []byte
			errs[ci] = pipelined(lc, hi-lo, outstanding, func(k int) (jute.Op, jute.Record) {
				val = b.Value(val, lo+k, 0)
				r.Path, r.Data = b.LeafPath(lo+k), val
				return jute.OpCreate, &r
			}, checkOK(func(k int) string { return b.LeafPath(lo + k) }))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return FillResult{}, err
	}
	return FillResult{Nodes: b.Nodes, Dirs: dirs, Elapsed: time.Since(started)}, nil
}

// WriteMarker writes b's marker node with a value naming gen (creating it
// the first time) and returns that value.
func WriteMarker(addr string, b BigTree, gen int) ([]byte, error) {
	b = b.WithDefaults()
	c, err := wire.Dial(addr, wire.Options{Timeout: sessionTimeoutBig})
	if err != nil {
		return nil, fmt.Errorf("bench: marker: %w", err)
	}
	defer c.CloseSession()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	want := []byte(fmt.Sprintf("marker generation %d", gen))
	h, err := c.Call(jute.OpSetData, &jute.SetDataRequest{Path: b.MarkerPath(), Data: want, Version: -1}, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: marker: %w", err)
	}
	if h.Err == jute.ErrNoNode {
		h, err = c.Call(jute.OpCreate, &jute.CreateRequest{Path: b.MarkerPath(), Data: want, ACL: tree.OpenACLUnsafe}, nil)
		if err != nil {
			return nil, fmt.Errorf("bench: marker: %w", err)
		}
	}
	if h.Err != jute.ErrOK {
		return nil, fmt.Errorf("bench: marker %s: %v", b.MarkerPath(), h.Err)
	}
	return want, nil
}

// ServingTimes is how long a restarted server took to serve.
type ServingTimes struct {
	// FirstRead: process start until a getData of a known node was
	// answered (a session had to be created first, which is itself a
	// logged transaction on both servers).
	FirstRead time.Duration
	// MarkerRead: process start until the marker's last written value was
	// read (zero when no marker value was given).
	MarkerRead time.Duration
	Attempts   int // connection attempts before the first read
}

// WaitServing polls addr every 10 ms from started on: it connects, reads
// known, then reads marker until its data equals want (skipped if want is
// nil). Refused and closed connections are retried until timeout.
func WaitServing(addr string, started time.Time, known, marker string, want []byte, timeout time.Duration) (ServingTimes, error) {
	var st ServingTimes
	deadline := started.Add(timeout)
	var c *wire.Conn
	defer func() {
		if c != nil {
			_ = c.CloseSession()
		}
	}()
	var last error
	for {
		if time.Now().After(deadline) {
			return st, fmt.Errorf("bench: %s not serving %v after start (%d attempts): %v", addr, timeout, st.Attempts, last)
		}
		st.Attempts++
		var err error
		c, err = wire.Dial(addr, wire.Options{Timeout: sessionTimeoutBig, DialTimeout: serveDialTimeout})
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(serveDialTimeout))
			var h jute.ReplyHeader
			h, err = c.Call(jute.OpGetData, &jute.PathWatchRequest{Path: known}, nil)
			if err == nil && h.Err == jute.ErrOK {
				st.FirstRead = time.Since(started)
				break
			}
			if err == nil {
				err = fmt.Errorf("getData %s: %v", known, h.Err)
			}
			_ = c.Close()
			c = nil
		}
		last = err
		time.Sleep(servePollEvery)
	}
	if want == nil {
		return st, nil
	}
	_ = c.SetDeadline(deadline)
	for {
		var rsp jute.GetDataResponse
		h, err := c.Call(jute.OpGetData, &jute.PathWatchRequest{Path: marker}, &rsp)
		if err != nil {
			return st, fmt.Errorf("bench: reading marker %s: %w", marker, err)
		}
		if h.Err == jute.ErrOK && string(rsp.Data) == string(want) {
			st.MarkerRead = time.Since(started)
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("bench: marker %s never read %q (last %v %q)", marker, want, h.Err, rsp.Data)
		}
		time.Sleep(servePollEvery)
	}
}

// PacedConfig is an open-loop write load: setData at a fixed total rate
// on random leaves of the tree, whatever the server's replies do.
type PacedConfig struct {
	Addr     string
	Tree     BigTree
	Sessions int           // default 10
	Rate     float64       // setData/s over all sessions
	Warmup   time.Duration // sent but not recorded
	Duration time.Duration // the measured window
	Gen      uint64        // value generation written
	Seed     uint64
}

// PacedResult is what a paced run measured: replies to requests
// scheduled inside the window.
type PacedResult struct {
	Config   PacedConfig
	Answered int64
	Errors   int64
	// Lat is reply time minus the moment the request was written to the
	// socket, in µs; SchedLat is reply time minus the moment the schedule
	// said to send (it adds the generator's own lateness, and is the
	// figure free of coordinated omission).
	Lat, SchedLat *hdrhistogram.Histogram
	// SendLagMax is the most a send ran behind its schedule.
	SendLagMax time.Duration
	// Blocked counts sends that waited because pacedInFlightMax requests
	// were unanswered on their session.
	Blocked int64
}

// WritesPerSec is the answered rate in the window.
func (r *PacedResult) WritesPerSec() float64 {
	if r.Config.Duration <= 0 {
		return 0
	}
	return float64(r.Answered) / r.Config.Duration.Seconds()
}

type pacedSend struct{ due, sent int64 } // ns since the run's start

// RunPacedWrites runs the open-loop write load: each session has a sender
// that writes request k at start + (k + s/Sessions)/perSessionRate,
// flushing each, and a receiver that matches replies to sends in order
// (a session's replies come in send order).
func RunPacedWrites(cfg PacedConfig) (*PacedResult, error) {
	cfg.Tree = cfg.Tree.WithDefaults()
	if cfg.Sessions <= 0 {
		cfg.Sessions = 10
	}
	if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Tree.Nodes <= 0 {
		return nil, errors.New("bench: paced writes need Rate, Duration and Tree.Nodes")
	}
	conns := make([]*wire.Conn, 0, cfg.Sessions)
	defer func() {
		for _, c := range conns {
			_ = c.CloseSession()
		}
	}()
	for i := 0; i < cfg.Sessions; i++ {
		c, err := wire.Dial(cfg.Addr, wire.Options{Timeout: sessionTimeoutBig})
		if err != nil {
			return nil, fmt.Errorf("bench: paced session %d: %w", i, err)
		}
		_ = c.SetDeadline(time.Now().Add(cfg.Warmup + cfg.Duration + pacedDrainTimeout))
		conns = append(conns, c)
	}
	res := &PacedResult{Config: cfg, Lat: newHist(), SchedLat: newHist()}
	var mu sync.Mutex // guards res while sessions merge into it
	perSession := cfg.Rate / float64(cfg.Sessions)
	interval := float64(time.Second) / perSession
	winLo, winHi := cfg.Warmup.Nanoseconds(), (cfg.Warmup + cfg.Duration).Nanoseconds()
	start := time.Now()
	errs := make([]error, cfg.Sessions)
	var wg sync.WaitGroup
	for si, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := make(chan pacedSend, pacedInFlightMax)
			quit := make(chan struct{})
			var blocked int64
			var lagMax int64
			sendErr := make(chan error, 1)
			go func() {
				defer close(q)
				err := func() error {
					rng := rand.New(rand.NewPCG(cfg.Seed, uint64(si)+1))
					req := jute.SetDataRequest{Version: -1}
					var val []byte
					for k := 0; ; k++ {
						due := int64((float64(k) + float64(si)/float64(cfg.Sessions)) * interval)
						if due >= winHi {
							return nil
						}
						if d := time.Duration(due - time.Since(start).Nanoseconds()); d > 0 {
							time.Sleep(d)
						}
						leaf := rng.IntN(cfg.Tree.Nodes)
						val = cfg.Tree.Value(val, leaf, cfg.Gen)
						req.Path, req.Data = cfg.Tree.LeafPath(leaf), val
						if _, err := c.Send(jute.OpSetData, &req); err != nil {
							return err
						}
						if err := c.Flush(); err != nil {
							return err
						}
						sent := time.Since(start).Nanoseconds()
						lagMax = max(lagMax, sent-due)
						ps := pacedSend{due: due, sent: sent}
						select {
						case q <- ps:
						default:
							blocked++
							select {
							case q <- ps:
							case <-quit:
								return nil
							}
						}
					}
				}()
				if err != nil {
					_ = c.Close() // unblock the receiver
				}
				sendErr <- err
			}()
			lat, sched := newHist(), newHist()
			var answered, errCount int64
			var err error
			for ps := range q {
				var h jute.ReplyHeader
				for {
					h, _, err = c.Recv()
					if err != nil || h.Xid >= 0 {
						break
					}
				}
				if err != nil {
					break
				}
				now := time.Since(start).Nanoseconds()
				if ps.due >= winLo && ps.due < winHi {
					answered++
					if h.Err != jute.ErrOK {
						errCount++
					}
					_ = lat.RecordValue(max((now-ps.sent)/1000, 1))
					_ = sched.RecordValue(max((now-ps.due)/1000, 1))
				}
			}
			close(quit)
			if err != nil {
				_ = c.Close()
				for range q { // let the sender finish
				}
			}
			if err = errors.Join(<-sendErr, err); err != nil {
				errs[si] = fmt.Errorf("bench: paced session %d: %w", si, err)
			}
			mu.Lock()
			defer mu.Unlock()
			res.Answered += answered
			res.Errors += errCount
			res.Lat.Merge(lat)
			res.SchedLat.Merge(sched)
			res.Blocked += blocked
			res.SendLagMax = max(res.SendLagMax, time.Duration(lagMax))
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// HistQuantile returns a µs histogram's quantile q (0..100) as a duration.
func HistQuantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond
}

// SnapshotEvent is one snapshot a server logged.
type SnapshotEvent struct {
	Took  time.Duration
	Bytes int64 // file size; 0 if unknown
	Nodes int   // zkd: node count when it finished; 0 if unknown
	File  string
}

// HeapInfo is a server's heap as the server's runtime reports it.
type HeapInfo struct {
	UsedBytes      int64 // JVM: used; zkd: live heap marked by the last GC
	CommittedBytes int64 // JVM: heap total; zkd: the last GC's goal
	Source         string
}

// StartOptions configure one start of a BigServer.
type StartOptions struct {
	SnapCount int // 0: the server's default (100,000 for both)
	// ZKSnapshotCompression sets zookeeper.snapshot.compression.method
	// ("gz" or "snappy"); ignored by zkd.
	ZKSnapshotCompression string
}

// BigServer is a server whose data directory survives restarts.
type BigServer interface {
	Name() string
	// Start runs the server on a fresh loopback port over the data
	// directory and returns the moment the process was launched. It does
	// not wait for the server to serve.
	Start(o StartOptions) (time.Time, error)
	// Started waits until the launch is complete (refzk's own readiness
	// check for ZooKeeper; for zkd, until its restore line has reached the
	// captured log, which trails the process by a pipe copy).
	Started() error
	Addr() string
	PID() int
	Stop() error
	// LogMark is a position in the server's log; SnapshotsSince returns
	// the snapshots logged after it (in this process run).
	LogMark() int
	SnapshotsSince(mark int) []SnapshotEvent
	// RestoreNote is what the server logged about loading its data.
	RestoreNote() string
	// StartupSnapshots reports whether the server writes a snapshot of
	// what it loaded before it serves (ZooKeeper 3.8 does).
	StartupSnapshots() bool
	NewestSnapshot() (name string, bytes int64, err error)
	DiskBytes() (snapshots, log int64, err error)
	Heap(forceGC bool) (HeapInfo, error)
	// Close stops the server and removes the data directory.
	Close() error
}

// dirBytes sums the sizes of regular files under dir whose base name
// satisfies keep (nil keeps all).
func dirBytes(dir string, keep func(name string) bool) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (keep == nil || keep(d.Name())) {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// newestSnapshotIn returns the snapshot file in dir whose name holds the
// highest zxid ("snapshot.<hex>[.suffix]"; .tmp files skipped).
func newestSnapshotIn(dir string) (string, int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, err
	}
	best, bestZxid := "", int64(-1)
	for _, e := range ents {
		name := e.Name()
		hex, ok := strings.CutPrefix(name, "snapshot.")
		if !ok || strings.HasSuffix(name, ".tmp") {
			continue
		}
		hex, _, _ = strings.Cut(hex, ".")
		z, err := strconv.ParseInt(hex, 16, 64)
		if err != nil {
			continue
		}
		if z > bestZxid {
			best, bestZxid = name, z
		}
	}
	if best == "" {
		return "", 0, fmt.Errorf("bench: no snapshot in %s", dir)
	}
	fi, err := os.Stat(filepath.Join(dir, best))
	if err != nil {
		return "", 0, err
	}
	return best, fi.Size(), nil
}

// ZkdBig is a zkd binary over a data directory that survives restarts. It
// logs at info level as JSON (for the "snapshot written" and "restored"
// lines) and runs with GODEBUG=gctrace=1 (for the live heap).
type ZkdBig struct {
	bin  string
	dir  string
	proc *ZkdProcess
	addr string
}

// NewZkdBig makes a zkd over a fresh temporary data directory.
func NewZkdBig(bin string) (*ZkdBig, error) {
	dir, err := os.MkdirTemp("", "snapbench-zkd-")
	if err != nil {
		return nil, err
	}
	return &ZkdBig{bin: bin, dir: dir}, nil
}

func (z *ZkdBig) Name() string           { return "zkd" }
func (z *ZkdBig) Addr() string           { return z.addr }
func (z *ZkdBig) StartupSnapshots() bool { return false }

// Started waits (at most restoreLogWait) until the "restored" line that
// zkd prints before it listens has been copied into the captured log: a
// loaded machine can serve the first read before the copy catches up.
func (z *ZkdBig) Started() error {
	deadline := time.Now().Add(restoreLogWait)
	for len(z.zkdLogLines(0, "restored")) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: zkd printed no restore line within %v", restoreLogWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

const restoreLogWait = 10 * time.Second

// DataDir is the directory the server's -data flag names.
func (z *ZkdBig) DataDir() string { return filepath.Join(z.dir, "data") }

func (z *ZkdBig) PID() int {
	if z.proc == nil {
		return 0
	}
	return z.proc.PID()
}

// Start launches zkd; see BigServer.
func (z *ZkdBig) Start(o StartOptions) (time.Time, error) {
	if z.proc != nil && z.proc.cmd.ProcessState == nil {
		return time.Time{}, errors.New("bench: zkd already running")
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return time.Time{}, err
	}
	args := []string{"-addr", addr, "-data", z.DataDir(), "-log-level", "info", "-log-json"}
	if o.SnapCount > 0 {
		args = append(args, "-snap-count", strconv.Itoa(o.SnapCount))
	}
	p := &ZkdProcess{addr: addr, logs: &lockedBuffer{}} // dir "" : Stop removes nothing
	p.cmd = exec.Command(z.bin, args...)
	p.cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return time.Time{}, err
	}
	z.proc, z.addr = p, addr
	return t0, nil
}

func (z *ZkdBig) Stop() error {
	if z.proc == nil {
		return nil
	}
	return z.proc.Stop()
}

// Logs is what the current (or last) process printed.
func (z *ZkdBig) Logs() string {
	if z.proc == nil {
		return ""
	}
	return z.proc.Logs()
}

func (z *ZkdBig) LogMark() int { return len(z.Logs()) }

// zkdLogLines returns the JSON log records after mark whose msg is msg.
func (z *ZkdBig) zkdLogLines(mark int, msg string) []map[string]any {
	logs := z.Logs()
	if mark > len(logs) {
		mark = len(logs)
	}
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs[mark:]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// The runtime's gctrace (GODEBUG=gctrace=1) shares stderr with
		// the JSON log and writes a line in pieces, so a record can start
		// after the head of a gc line: it is whole (one write of its
		// own) from its '{' on.
		line := sc.Bytes()
		i := bytes.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		line = line[i:]
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil || rec["msg"] != msg {
			continue
		}
		out = append(out, rec)
	}
	return out
}

func jsonInt(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func (z *ZkdBig) SnapshotsSince(mark int) []SnapshotEvent {
	var evs []SnapshotEvent
	for _, r := range z.zkdLogLines(mark, "snapshot written") {
		file, _ := r["file"].(string)
		evs = append(evs, SnapshotEvent{
			Took: time.Duration(jsonInt(r["took"])), Bytes: jsonInt(r["bytes"]),
			Nodes: int(jsonInt(r["nodes"])), File: file,
		})
	}
	return evs
}

func (z *ZkdBig) RestoreNote() string {
	recs := z.zkdLogLines(0, "restored")
	if len(recs) == 0 {
		return ""
	}
	r := recs[0]
	return fmt.Sprintf("restored in %v (snapshot load + %v txns replayed, %v nodes)",
		time.Duration(jsonInt(r["took"])).Round(time.Millisecond), jsonInt(r["replayed"]), jsonInt(r["nodes"]))
}

func (z *ZkdBig) NewestSnapshot() (string, int64, error) {
	return newestSnapshotIn(filepath.Join(z.DataDir(), "snapshots"))
}

func (z *ZkdBig) DiskBytes() (int64, int64, error) {
	s, err := dirBytes(filepath.Join(z.DataDir(), "snapshots"), func(n string) bool { return !strings.HasSuffix(n, ".tmp") })
	if err != nil {
		return 0, 0, err
	}
	l, err := dirBytes(filepath.Join(z.DataDir(), "log"), nil)
	return s, l, err
}

// gctraceRE matches GODEBUG=gctrace=1's "A->B->C MB, D MB goal".
var gctraceRE = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// Heap reports the live heap marked by zkd's last GC (gctrace); zkd has
// no way to force a GC from outside, so forceGC is ignored.
func (z *ZkdBig) Heap(bool) (HeapInfo, error) {
	m := gctraceRE.FindAllStringSubmatch(z.Logs(), -1)
	if len(m) == 0 {
		return HeapInfo{}, errors.New("bench: no gctrace line from zkd")
	}
	last := m[len(m)-1]
	live, _ := strconv.ParseInt(last[3], 10, 64)
	goal, _ := strconv.ParseInt(last[4], 10, 64)
	return HeapInfo{UsedBytes: live << 20, CommittedBytes: goal << 20, Source: "gctrace: live heap after the last GC / its next goal"}, nil
}

func (z *ZkdBig) Close() error {
	err := z.Stop()
	return errors.Join(err, os.RemoveAll(z.dir))
}

// ZooKeeperBig is Apache ZooKeeper 3.8 (refzk) over a data directory that
// survives restarts, logging at INFO (refzk's default) to zookeeper.out.
type ZooKeeperBig struct {
	dir      string
	jvmFlags []string
	srv      *refzk.Server
	port     int
	startErr chan error
	logBase  int64 // size of zookeeper.out when the current run started
}

// NewZooKeeperBig makes a ZooKeeper over a fresh temporary data directory;
// jvmFlags go to java (for example "-Xmx2g").
func NewZooKeeperBig(jvmFlags ...string) (*ZooKeeperBig, error) {
	if !refzk.Available() {
		return nil, refzk.ErrUnavailable
	}
	dir, err := os.MkdirTemp("", "snapbench-zk-")
	if err != nil {
		return nil, err
	}
	return &ZooKeeperBig{dir: dir, jvmFlags: jvmFlags}, nil
}

func (z *ZooKeeperBig) Name() string           { return "zookeeper" }
func (z *ZooKeeperBig) Addr() string           { return net.JoinHostPort("127.0.0.1", strconv.Itoa(z.port)) }
func (z *ZooKeeperBig) StartupSnapshots() bool { return true }
func (z *ZooKeeperBig) logPath() string        { return filepath.Join(z.dir, "zookeeper.out") }

func (z *ZooKeeperBig) PID() int {
	if z.srv == nil {
		return 0
	}
	return z.srv.PID()
}

// Start launches java through refzk.Start in the background; Started
// waits for it.
func (z *ZooKeeperBig) Start(o StartOptions) (time.Time, error) {
	if z.startErr != nil || z.srv != nil {
		return time.Time{}, errors.New("bench: zookeeper already running")
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return time.Time{}, err
	}
	_, portStr, _ := net.SplitHostPort(addr)
	z.port, _ = strconv.Atoi(portStr)
	if fi, err := os.Stat(z.logPath()); err == nil {
		z.logBase = fi.Size()
	} else {
		z.logBase = 0
	}
	var extra []string
	if o.SnapCount > 0 {
		extra = append(extra, fmt.Sprintf("snapCount=%d", o.SnapCount))
	}
	flags := append([]string(nil), z.jvmFlags...)
	if o.ZKSnapshotCompression != "" {
		flags = append(flags, "-Dzookeeper.snapshot.compression.method="+o.ZKSnapshotCompression)
	}
	opts := refzk.Options{Dir: z.dir, Port: z.port, Extra: extra, JVMFlags: flags, StartTimeout: serveTimeoutDefault}
	z.startErr = make(chan error, 1)
	t0 := time.Now()
	go func(ch chan error) {
		s, err := refzk.Start(opts)
		if err == nil {
			z.srv = s
		}
		ch <- err
	}(z.startErr)
	return t0, nil
}

// Started waits (bounded by refzk's StartTimeout) for the launch.
func (z *ZooKeeperBig) Started() error {
	if z.startErr == nil {
		return nil
	}
	err := <-z.startErr
	z.startErr = nil
	return err
}

func (z *ZooKeeperBig) Stop() error {
	if err := z.Started(); err != nil {
		return err
	}
	if z.srv == nil {
		return nil
	}
	err := z.srv.Stop()
	z.srv = nil
	return err
}

// runLog is zookeeper.out from the current run's start on.
func (z *ZooKeeperBig) runLog() string {
	b, err := os.ReadFile(z.logPath())
	if err != nil || int64(len(b)) < z.logBase {
		return ""
	}
	return string(b[z.logBase:])
}

func (z *ZooKeeperBig) LogMark() int { return len(z.runLog()) }

var (
	zkSnapTakenRE = regexp.MustCompile(`Snapshot taken in (\d+) ms`)
	zkSnapToRE    = regexp.MustCompile(`Snapshotting: 0x[0-9a-f]+ to (\S+)`)
	zkSnapLoadRE  = regexp.MustCompile(`Snapshot loaded in (\d+) ms, highest zxid is (0x[0-9a-f]+)`)
)

// SnapshotsSince pairs each "Snapshotting: ... to FILE" line with the
// next "Snapshot taken in N ms" (the snapshot thread logs both, and ZooKeeper
// skips a snapshot rather than run two at once).
func (z *ZooKeeperBig) SnapshotsSince(mark int) []SnapshotEvent {
	log := z.runLog()
	if mark > len(log) {
		mark = len(log)
	}
	var evs []SnapshotEvent
	file := ""
	for _, line := range strings.Split(log[mark:], "\n") {
		if m := zkSnapToRE.FindStringSubmatch(line); m != nil {
			file = m[1]
			continue
		}
		if m := zkSnapTakenRE.FindStringSubmatch(line); m != nil {
			ms, _ := strconv.ParseInt(m[1], 10, 64)
			ev := SnapshotEvent{Took: time.Duration(ms) * time.Millisecond, File: filepath.Base(file)}
			if fi, err := os.Stat(file); file != "" && err == nil {
				ev.Bytes = fi.Size()
			}
			evs = append(evs, ev)
			file = ""
		}
	}
	return evs
}

func (z *ZooKeeperBig) RestoreNote() string {
	m := zkSnapLoadRE.FindStringSubmatch(z.runLog())
	if m == nil {
		return ""
	}
	return fmt.Sprintf("snapshot+log loaded in %s ms (highest zxid %s), then a startup snapshot", m[1], m[2])
}

func (z *ZooKeeperBig) NewestSnapshot() (string, int64, error) {
	return newestSnapshotIn(filepath.Join(z.dir, "version-2"))
}

func (z *ZooKeeperBig) DiskBytes() (int64, int64, error) {
	dir := filepath.Join(z.dir, "version-2")
	s, err := dirBytes(dir, func(n string) bool { return strings.HasPrefix(n, "snapshot.") })
	if err != nil {
		return 0, 0, err
	}
	l, err := dirBytes(dir, func(n string) bool { return strings.HasPrefix(n, "log.") })
	return s, l, err
}

// jvmHeapRE matches jcmd GC.heap_info's "heap total NK, used MK".
var jvmHeapRE = regexp.MustCompile(`heap\s+total (\d+)K, used (\d+)K`)

// Heap asks the JVM with jcmd GC.heap_info, after a full GC (jcmd GC.run)
// when forceGC is set.
func (z *ZooKeeperBig) Heap(forceGC bool) (HeapInfo, error) {
	pid := z.PID()
	if pid == 0 {
		return HeapInfo{}, errors.New("bench: zookeeper not running")
	}
	jcmd := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), jcmdTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "jcmd", append([]string{strconv.Itoa(pid)}, args...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("bench: jcmd %v: %v: %s", args, err, out)
		}
		return string(out), nil
	}
	src := "jcmd GC.heap_info"
	if forceGC {
		if _, err := jcmd("GC.run"); err != nil {
			return HeapInfo{}, err
		}
		src = "jcmd GC.run, then GC.heap_info"
	}
	out, err := jcmd("GC.heap_info")
	if err != nil {
		return HeapInfo{}, err
	}
	m := jvmHeapRE.FindStringSubmatch(out)
	if m == nil {
		return HeapInfo{}, fmt.Errorf("bench: no heap line in jcmd output: %s", out)
	}
	total, _ := strconv.ParseInt(m[1], 10, 64)
	used, _ := strconv.ParseInt(m[2], 10, 64)
	return HeapInfo{UsedBytes: used << 10, CommittedBytes: total << 10, Source: src}, nil
}

func (z *ZooKeeperBig) Close() error {
	err := z.Stop()
	return errors.Join(err, os.RemoveAll(z.dir))
}

// BigTreeConfig is one campaign on one server.
type BigTreeConfig struct {
	Tree            BigTree
	FillConns       int // default 8
	FillOutstanding int // per connection; default 1000
	// SnapCountLoad is the snapCount while filling (0: the servers'
	// default, 100,000); SnapCountSmall makes snapshots run back to back
	// during the "with snapshots" write run (default 10,000);
	// SnapCountHuge keeps them off (default 1e9).
	SnapCountLoad, SnapCountSmall, SnapCountHuge int
	// The paced write runs (benchmark 3); Duration 0 skips them.
	Rate     float64
	Sessions int
	Warmup   time.Duration
	Duration time.Duration
	// Settle is the pause before reading RSS after a fill or a restart.
	Settle time.Duration
	// ServeTimeout bounds each restart; default 10 min.
	ServeTimeout time.Duration
	// ZKSnapshotCompression, when set, adds a last ZooKeeper restart with
	// that snapshot compression to measure its startup snapshot.
	ZKSnapshotCompression string
	Logf                  func(format string, args ...any)
}

// RestartResult is one restart.
type RestartResult struct {
	Label           string
	Serving         ServingTimes
	RestoreNote     string
	StartupSnapshot *SnapshotEvent // ZooKeeper's snapshot before serving
}

// PacedRun is one paced write run and the snapshots logged during it.
type PacedRun struct {
	Label     string
	SnapCount int
	Result    *PacedResult
	Snapshots []SnapshotEvent
	RSSAfter  int64
}

// BigTreeResult is everything a campaign measured on one server.
type BigTreeResult struct {
	Server  string
	Tree    BigTree
	Fill    FillResult
	FillCPU time.Duration // server CPU during the fill

	RSSAfterLoad  int64
	HeapAfterLoad HeapInfo
	LoadSnapshots []SnapshotEvent // written while filling (growing tree)

	// IdleSnapshot is a snapshot of the full tree with no client load:
	// ZooKeeper's startup snapshot, zkd's first snapshot after a restart
	// with snapCount 2.
	IdleSnapshot      SnapshotEvent
	SnapshotFile      string
	SnapshotFileBytes int64
	DiskSnapBytes     int64 // all snapshot files kept
	DiskLogBytes      int64

	Restarts []RestartResult

	RSSAfterRestart    int64
	HeapAfterRestart   HeapInfo
	RSSAfterRestartGC  int64 // JVM only: after a forced full GC
	HeapAfterRestartGC HeapInfo

	Runs []PacedRun

	Compressed *SnapshotEvent // ZooKeeper with ZKSnapshotCompression
}

func (c BigTreeConfig) withDefaults() BigTreeConfig {
	c.Tree = c.Tree.WithDefaults()
	if c.SnapCountSmall <= 0 {
		c.SnapCountSmall = snapCountSmallDefault
	}
	if c.SnapCountHuge <= 0 {
		c.SnapCountHuge = snapCountHugeDefault
	}
	if c.ServeTimeout <= 0 {
		c.ServeTimeout = serveTimeoutDefault
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// RunBigTree runs the campaign on s (which must hold no data yet):
//
//  1. start (snapCount SnapCountLoad), fill, write the marker, read RSS
//     and heap; stop.
//  2. restart: ZooKeeper writes its startup snapshot of the full tree
//     before serving; zkd runs with snapCount 2 so that its first
//     snapshot (of the full tree, no client load) starts at once. Record
//     that snapshot and the newest snapshot file; write the marker; stop.
//  3. restart with SnapCountHuge (the newest snapshot holds the whole
//     tree, the log tail is a few transactions): the clean
//     restart-to-serving figure, then RSS and heap; then the paced write
//     run without snapshots; write the marker; stop.
//  4. restart with SnapCountSmall (replaying the previous run's writes);
//     the paced write run with snapshots back to back; stop.
//  5. for ZooKeeper with ZKSnapshotCompression: restart with it, record
//     the compressed startup snapshot; stop.
//
// It leaves s stopped; the caller closes it.
func RunBigTree(s BigServer, cfg BigTreeConfig) (*BigTreeResult, error) {
	cfg = cfg.withDefaults()
	b := cfg.Tree
	res := &BigTreeResult{Server: s.Name(), Tree: b}
	known := b.LeafPath(0)
	stopErr := func(err error) (*BigTreeResult, error) {
		return res, errors.Join(err, s.Stop())
	}
	gen := 0
	marker := func() ([]byte, error) {
		gen++
		return WriteMarker(s.Addr(), b, gen)
	}
	// restart starts s and waits until it serves the marker's value want.
	restart := func(label string, o StartOptions, want []byte) (RestartResult, error) {
		rr := RestartResult{Label: label}
		t0, err := s.Start(o)
		if err != nil {
			return rr, err
		}
		st, err := WaitServing(s.Addr(), t0, known, b.MarkerPath(), want, cfg.ServeTimeout)
		if err != nil {
			return rr, err
		}
		if err := s.Started(); err != nil {
			return rr, err
		}
		rr.Serving = st
		rr.RestoreNote = s.RestoreNote()
		if s.StartupSnapshots() {
			if evs := s.SnapshotsSince(0); len(evs) > 0 {
				rr.StartupSnapshot = &evs[0]
			}
		}
		cfg.Logf("%s %s: first read %v, marker read %v; %s", s.Name(), label, st.FirstRead.Round(time.Millisecond), st.MarkerRead.Round(time.Millisecond), rr.RestoreNote)
		res.Restarts = append(res.Restarts, rr)
		return rr, nil
	}

	// 1. Fill.
	t0, err := s.Start(StartOptions{SnapCount: cfg.SnapCountLoad})
	if err != nil {
		return res, err
	}
	if _, err := WaitServing(s.Addr(), t0, "/", "", nil, cfg.ServeTimeout); err != nil {
		return stopErr(err)
	}
	if err := s.Started(); err != nil {
		return stopErr(err)
	}
	cpu0, _ := ProcessCPU(s.PID())
	cfg.Logf("%s: filling %d nodes (%s payload)", s.Name(), b.Nodes, b.Payload)
	res.Fill, err = FillBigTree(s.Addr(), b, cfg.FillConns, cfg.FillOutstanding)
	if err != nil {
		return stopErr(err)
	}
	cpu1, _ := ProcessCPU(s.PID())
	res.FillCPU = cpu1 - cpu0
	cfg.Logf("%s: filled in %v (%.0f creates/s)", s.Name(), res.Fill.Elapsed.Round(time.Millisecond), res.Fill.CreatesPerSec())
	want, err := marker()
	if err != nil {
		return stopErr(err)
	}
	time.Sleep(cfg.Settle)
	if res.RSSAfterLoad, err = ProcessRSS(s.PID()); err != nil {
		return stopErr(err)
	}
	if res.HeapAfterLoad, err = s.Heap(false); err != nil {
		return stopErr(err)
	}
	res.LoadSnapshots = s.SnapshotsSince(0)
	if err := s.Stop(); err != nil {
		return res, err
	}

	// 2. The idle snapshot of the full tree.
	o := StartOptions{SnapCount: 2}
	if s.StartupSnapshots() {
		o.SnapCount = cfg.SnapCountLoad
	}
	if _, err := restart("restart after the fill (log tail up to one snapCount)", o, want); err != nil {
		return stopErr(err)
	}
	deadline := time.Now().Add(snapWaitTimeout)
	for {
		if evs := s.SnapshotsSince(0); len(evs) > 0 {
			res.IdleSnapshot = evs[0]
			break
		}
		if time.Now().After(deadline) {
			return stopErr(fmt.Errorf("bench: %s wrote no snapshot in %v", s.Name(), snapWaitTimeout))
		}
		time.Sleep(servePollEvery)
	}
	cfg.Logf("%s: full-tree snapshot %v, %d bytes", s.Name(), res.IdleSnapshot.Took, res.IdleSnapshot.Bytes)
	if want, err = marker(); err != nil {
		return stopErr(err)
	}
	if err := s.Stop(); err != nil {
		return res, err
	}
	if res.SnapshotFile, res.SnapshotFileBytes, err = s.NewestSnapshot(); err != nil {
		return res, err
	}
	if res.DiskSnapBytes, res.DiskLogBytes, err = s.DiskBytes(); err != nil {
		return res, err
	}

	// 3. Clean restart, memory, paced writes without snapshots.
	if _, err := restart("restart from a full snapshot", StartOptions{SnapCount: cfg.SnapCountHuge}, want); err != nil {
		return stopErr(err)
	}
	time.Sleep(cfg.Settle)
	if res.RSSAfterRestart, err = ProcessRSS(s.PID()); err != nil {
		return stopErr(err)
	}
	if res.HeapAfterRestart, err = s.Heap(false); err != nil {
		return stopErr(err)
	}
	if s.Name() == "zookeeper" {
		if res.HeapAfterRestartGC, err = s.Heap(true); err != nil {
			return stopErr(err)
		}
		if res.RSSAfterRestartGC, err = ProcessRSS(s.PID()); err != nil {
			return stopErr(err)
		}
	}
	paced := func(label string, snapCount int) error {
		mark := s.LogMark()
		cfg.Logf("%s: paced writes %s (%.0f/s, %v + %v)", s.Name(), label, cfg.Rate, cfg.Warmup, cfg.Duration)
		r, err := RunPacedWrites(PacedConfig{
			Addr: s.Addr(), Tree: b, Sessions: cfg.Sessions, Rate: cfg.Rate,
			Warmup: cfg.Warmup, Duration: cfg.Duration, Gen: uint64(100 + gen), Seed: uint64(gen),
		})
		if err != nil {
			return err
		}
		run := PacedRun{Label: label, SnapCount: snapCount, Result: r, Snapshots: s.SnapshotsSince(mark)}
		run.RSSAfter, _ = ProcessRSS(s.PID())
		res.Runs = append(res.Runs, run)
		cfg.Logf("%s: %s: %.0f writes/s, p50 %v p99 %v p99.9 %v max %v, %d snapshots", s.Name(), label, r.WritesPerSec(),
			HistQuantile(r.Lat, 50), HistQuantile(r.Lat, 99), HistQuantile(r.Lat, 99.9), HistQuantile(r.Lat, 100), len(run.Snapshots))
		return nil
	}
	if cfg.Duration > 0 {
		if err := paced("without snapshots", cfg.SnapCountHuge); err != nil {
			return stopErr(err)
		}
		if want, err = marker(); err != nil {
			return stopErr(err)
		}
		if err := s.Stop(); err != nil {
			return res, err
		}

		// 4. Paced writes with snapshots back to back.
		if _, err := restart("restart replaying the previous write run", StartOptions{SnapCount: cfg.SnapCountSmall}, want); err != nil {
			return stopErr(err)
		}
		if err := paced("with snapshots", cfg.SnapCountSmall); err != nil {
			return stopErr(err)
		}
	}
	if err := s.Stop(); err != nil {
		return res, err
	}

	// 5. ZooKeeper's compressed snapshot.
	if cfg.ZKSnapshotCompression != "" && s.StartupSnapshots() {
		rr, err := restart("restart with snapshot compression "+cfg.ZKSnapshotCompression,
			StartOptions{SnapCount: cfg.SnapCountHuge, ZKSnapshotCompression: cfg.ZKSnapshotCompression}, nil)
		if err != nil {
			return stopErr(err)
		}
		res.Compressed = rr.StartupSnapshot
		if err := s.Stop(); err != nil {
			return res, err
		}
	}
	return res, nil
}
