package bench

import (
	"encoding/binary"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
)

// TestRunLoadMix: a short run issues the asked write fraction, records
// every reply, and reports ordered, positive latencies and the bytes of
// each operation type.
func TestRunLoadMix(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond, FourLetterWords: []string{"*"}})
	ticks := 0
	res, err := RunLoad(LoadConfig{
		Addrs: []string{addr}, Sessions: 4, Outstanding: 8, ValueBytes: 256,
		WriteFraction: 0.3, Znodes: 10, Warmup: 200 * time.Millisecond, Duration: 1500 * time.Millisecond, Seed: 7,
		ProbeServers: true, OnTick: func(string, float64) { ticks++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	total := res.Reads + res.Writes
	if total < 100 {
		t.Fatalf("only %d requests in a second", total)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors", res.Errors)
	}
	frac := float64(res.Writes) / float64(total)
	if math.Abs(frac-0.3) > 0.05 {
		t.Errorf("write fraction %.3f, asked 0.3", frac)
	}
	p50, p99, pmax := res.Percentile(50), res.Percentile(99), res.Percentile(100)
	if p50 <= 0 || p50 > p99 || p99 > pmax {
		t.Errorf("latencies not ordered: p50 %v p99 %v max %v", p50, p99, pmax)
	}
	if res.OpsPerSec() <= 0 || res.ClientCPU <= 0 {
		t.Errorf("ops/s %v client CPU %v", res.OpsPerSec(), res.ClientCPU)
	}
	if ticks == 0 {
		t.Error("OnTick never called")
	}
	// getData /zkbench/n000000: 4 length + 8 header + 4+16 path + 1 watch.
	if got := float64(res.ReadRequestBytes) / float64(res.Reads); got != 33 {
		t.Errorf("read request %.1f bytes, want 33", got)
	}
	// A getData reply carries the 256-byte value and a Stat.
	if got := float64(res.ReadReplyBytes) / float64(res.Reads); got < 256+16+68 {
		t.Errorf("read reply %.1f bytes, want at least %d", got, 256+16+68)
	}
	if got := float64(res.WriteRequestBytes) / float64(res.Writes); got < 256+20 {
		t.Errorf("write request %.1f bytes", got)
	}
	if res.SocketBytesIn < res.ReadReplyBytes || res.SocketBytesOut < res.WriteRequestBytes {
		t.Errorf("socket bytes in %d out %d below the frames counted", res.SocketBytesIn, res.SocketBytesOut)
	}
	if len(res.Servers) != 1 {
		t.Fatalf("%d server windows", len(res.Servers))
	}
	s := res.Servers[0]
	if s.Role != "standalone" || s.Reads != res.Reads || s.Writes != res.Writes {
		t.Errorf("server window %+v", s)
	}
	// Every write in the window is a transaction (plus those straddling
	// the probes).
	if s.Txns < res.Writes {
		t.Errorf("zxid advanced by %d over %d writes", s.Txns, res.Writes)
	}
}

// TestRunLoadRate: a rate-limited run stays near its rate.
func TestRunLoadRate(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	res, err := RunLoad(LoadConfig{
		Addrs: []string{addr}, Sessions: 2, Outstanding: 4, WriteFraction: 0.5,
		Znodes: 5, Duration: time.Second, Rate: 500, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ops := res.OpsPerSec(); ops < 350 || ops > 650 {
		t.Errorf("rate-limited run did %.0f ops/s, asked 500", ops)
	}
	// Replies are timed when they arrive: far below the 16 ms a request
	// would wait if replies were only read when the next one is due
	// (4 outstanding at 250/s per session).
	if p50 := res.Percentile(50); p50 > 5*time.Millisecond {
		t.Errorf("p50 %v at light load", p50)
	}
}

// TestRunLoadRateBehind: a rate the server cannot reach is charged to
// the latency (requests count from when they were due), and the run
// still ends on time.
func TestRunLoadRateBehind(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	start := time.Now()
	res, err := RunLoad(LoadConfig{
		Addrs: []string{addr}, Sessions: 1, Outstanding: 1, WriteFraction: 1,
		Znodes: 5, Duration: 500 * time.Millisecond, Rate: 10_000_000, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %v", d)
	}
	// Far behind schedule, the later requests were due long before they
	// went out: the max latency spans most of the window.
	if pmax := res.Percentile(100); pmax < 100*time.Millisecond {
		t.Errorf("max latency %v, want the schedule's lag", pmax)
	}
}

func TestLoadConfigBounds(t *testing.T) {
	for _, c := range []LoadConfig{
		{},
		{Addrs: []string{"x"}, WriteFraction: 1.5},
		{Addrs: []string{"x"}, Sessions: sessionsMax + 1},
		{Addrs: []string{"x"}, Outstanding: outstandingMax + 1},
		{Addrs: []string{"x"}, Rate: -1},
	} {
		if _, err := RunLoad(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// fakeServer accepts one connection, completes the handshake and answers
// each request with a canned reply carrying its xid. It allocates nothing
// per request, so an allocation count of the client side is not polluted
// by the server.
func fakeServer(t testing.TB, replyBody int) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		in := make([]byte, 1<<20)
		read := func() []byte {
			if _, err := io.ReadFull(c, in[:4]); err != nil {
				return nil
			}
			n := binary.BigEndian.Uint32(in[:4])
			if _, err := io.ReadFull(c, in[4:4+n]); err != nil {
				return nil
			}
			return in[4 : 4+n]
		}
		if read() == nil {
			return
		}
		var w jute.Writer
		at := w.BeginFrame()
		(&jute.ConnectResponse{TimeOut: 10000, SessionID: 1, Passwd: make([]byte, 16)}).Encode(&w)
		w.EndFrame(at)
		if _, err := c.Write(w.B); err != nil {
			return
		}
		reply := make([]byte, 4+16+replyBody)
		binary.BigEndian.PutUint32(reply, uint32(16+replyBody))
		for {
			req := read()
			if req == nil {
				return
			}
			copy(reply[4:8], req[:4]) // xid
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	}()
	return l.Addr().String()
}

// newTestWorker is a worker on a fake server, measuring (phase 1).
func newTestWorker(t testing.TB, write float64) *worker {
	addr := fakeServer(t, 1100)
	conn, err := wire.Dial(addr, wire.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ph := &phase{}
	ph.v.Store(1)
	cfg := LoadConfig{Addrs: []string{addr}, Sessions: 1, Outstanding: 1, WriteFraction: write, Seed: 1}.withDefaults()
	return newWorker(cfg, 0, conn, ph, time.Now())
}

// roundTrip is the generator's per-request work: encode and queue a
// request, flush it, read and record its reply.
func (w *worker) roundTrip() bool {
	if !w.send() {
		return false
	}
	if err := w.conn.Flush(); err != nil {
		return false
	}
	return w.receive()
}

// TestWorkerAllocs: the load generator's hot path allocates nothing per
// request once its buffers have grown.
func TestWorkerAllocs(t *testing.T) {
	w := newTestWorker(t, 0.5)
	for i := 0; i < 100; i++ {
		if !w.roundTrip() {
			t.Fatal(w.err)
		}
	}
	failed := false
	allocs := testing.AllocsPerRun(1000, func() {
		if !w.roundTrip() {
			failed = true
		}
	})
	if failed {
		t.Fatal(w.err)
	}
	if allocs != 0 {
		t.Errorf("%.2f allocations per request, want 0", allocs)
	}
	if w.reads == 0 || w.writes == 0 {
		t.Errorf("reads %d writes %d", w.reads, w.writes)
	}
}

// BenchmarkWorkerRoundTrip: go test -run '^$' -bench WorkerRoundTrip
// -benchmem ./bench/ shows the client's cost per request (the fake server
// runs in the same process, so ns/op includes its share).
func BenchmarkWorkerRoundTrip(b *testing.B) {
	w := newTestWorker(b, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		if !w.roundTrip() {
			b.Fatal(w.err)
		}
	}
}
