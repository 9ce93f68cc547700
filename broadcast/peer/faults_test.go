package peer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"zkd/broadcast/zab"
)

// TestRestart stops a server mid-stream and starts a new one on the same
// port: the sender reconnects, and the new server sees a strictly
// increasing suffix of the stream.
func TestRestart(t *testing.T) {
	noLeaks(t)
	ts := ensemble(t, 3, func(c *Config) { c.SendQueueMax = 64 })
	collect(ts[1])
	waitFor(t, 10*time.Second, "every link up", allConnected(ts))
	for seq := uint64(1); seq <= 50; seq++ {
		ts[0].Send(msg(1, 2, seq, 0))
	}
	cfg2 := ts[1].cfg
	ts[1].Stop()
	// While s2 is down, s1 queues up to SendQueueMax and drops the rest.
	for seq := uint64(51); seq <= 300; seq++ {
		ts[0].Send(msg(1, 2, seq, 0))
	}
	if st := ts[0].Stats().Peers[2]; st.Queued > 64 || st.Dropped == 0 {
		t.Fatalf("queue bound: %+v", st)
	}
	s2, err := New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "s2's port free again", func() bool { return s2.Start() == nil })
	t.Cleanup(s2.Stop)
	c2 := collect(s2)
	waitFor(t, 10*time.Second, "s1->s2 up again", func() bool { return ts[0].Stats().Peers[2].Connected })
	waitFor(t, 10*time.Second, "the queue flushed", func() bool { return ts[0].Stats().Peers[2].Queued == 0 })
	for seq := uint64(301); seq <= 340; seq++ {
		ts[0].Send(msg(1, 2, seq, 0))
	}
	waitFor(t, 10*time.Second, "the stream's end at the new s2", func() bool { return c2.last(1) == 340 })
	seqs := c2.get(1)
	gaps(t, "new s2 from s1", seqs)
	if len(seqs) < 40 || seqs[len(seqs)-40] != 301 {
		t.Fatalf("messages sent after the reconnect are missing: %v", seqs)
	}
	if st := ts[0].Stats().Peers[2]; st.Reconnects < 1 {
		t.Fatalf("no reconnect: %+v", st)
	}

	// Now the sender restarts, mid-stream, and the new one carries on the
	// numbering: s2 sees one increasing stream from s1 with one gap at most.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(341); seq <= 1000; seq++ {
			ts[0].Send(msg(1, 2, seq, 0))
			if seq%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(5 * time.Millisecond)
	cfg1 := ts[0].cfg
	ts[0].Stop()
	<-done
	s1, err := New(cfg1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "s1's port free again", func() bool { return s1.Start() == nil })
	t.Cleanup(s1.Stop)
	waitFor(t, 10*time.Second, "new s1->s2 up", func() bool { return s1.Stats().Peers[2].Connected })
	for seq := uint64(2001); seq <= 2040; seq++ {
		s1.Send(msg(1, 2, seq, 0))
	}
	waitFor(t, 10*time.Second, "the new s1's stream at s2", func() bool { return c2.last(1) == 2040 })
	seqs = c2.get(1)
	if g := gaps(t, "s2 from old and new s1", seqs); g > 2 {
		t.Fatalf("%d gaps: one at s2's restart, one at s1's, no more", g)
	}
}

// rawPeer dials tr as a hand-made peer.
func rawPeer(t *testing.T, tr *Transport) net.Conn {
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hello sends a good handshake from id to tr and reads the reply.
func hello(t *testing.T, c net.Conn, from, to zab.ID) {
	t.Helper()
	if _, err := c.Write(appendHandshake(nil, handshake{Version: protocolVersion, From: from, To: to})); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [handshakeBytes]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("handshake reply: %v", err)
	}
	h, err := decodeHandshake(b[:])
	if err == nil {
		err = checkReply(h, from, to)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// closedByPeer waits until the other end closes c.
func closedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open (read %d bytes)", n)
		}
	}
}

func frame(t *testing.T, m zab.Message) []byte {
	b, err := appendFrame(nil, &m, DefaultMaxFrameBytes)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadPeers sends bad handshakes and frames to s2 next to a healthy
// link from s1: each closes only its own connection.
func TestBadPeers(t *testing.T) {
	noLeaks(t)
	dead := deadAddr(t)
	ts := ensemble(t, 2, func(c *Config) {
		c.MaxFrameBytes = 64 << 10
		c.Peers[3] = dead // known, but played by the test
	})
	c2 := collect(ts[1])
	waitFor(t, 10*time.Second, "s1-s2 links up", func() bool {
		a, b := ts[0].Stats().Peers[2], ts[1].Stats().Peers[1]
		return a.Connected && a.InboundConnected && b.Connected && b.InboundConnected
	})
	good := appendHandshake(nil, handshake{Version: protocolVersion, From: 3, To: 2})
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	seq := uint64(0)
	healthy := func() {
		t.Helper()
		seq++
		ts[0].Send(msg(1, 2, seq, 0))
		waitFor(t, 5*time.Second, "s1's message at s2", func() bool { return c2.last(1) == seq })
	}
	for _, tc := range []struct {
		name      string
		handshake bool   // send a good handshake from s3 first
		send      []byte // then this
	}{
		{name: "magic", send: with(0, 'G', 'E', 'T', ' ')},
		{name: "version", send: with(4, 0xff, 0xff)},
		{name: "unknown id", send: with(6, 0, 0, 0, 0, 0, 0, 0, 9)},
		{name: "other receiver", send: with(14, 0, 0, 0, 0, 0, 0, 0, 1)},
		{name: "own id", send: with(6, 0, 0, 0, 0, 0, 0, 0, 2)},
		{name: "short handshake", send: good[:10]},
		{name: "oversized frame", handshake: true, send: binary.BigEndian.AppendUint32(nil, 64<<10+1)},
		{name: "huge frame", handshake: true, send: []byte{0xff, 0xff, 0xff, 0xff}},
		{name: "empty frame", handshake: true, send: []byte{0, 0, 0, 0}},
		{name: "garbage frame", handshake: true, send: []byte{0, 0, 0, 5, 0xff, 0xee, 0xdd, 0xcc, 0xbb}},
		{name: "truncated frame", handshake: true, send: frame(t, msg(3, 2, 1, 100))[:50]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejected := ts[1].Stats().Rejected
			c := rawPeer(t, ts[1])
			if tc.handshake {
				hello(t, c, 3, 2)
			}
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.name == "short handshake" || tc.name == "truncated frame" {
				c.(*net.TCPConn).CloseWrite()
			}
			closedByPeer(t, c)
			waitFor(t, 5*time.Second, "the rejection counted", func() bool {
				return ts[1].Stats().Rejected > rejected || tc.name == "truncated frame"
			})
			healthy()
		})
	}
	if got := c2.get(3); len(got) != 0 {
		t.Fatalf("s2 delivered %v from the bad peers", got)
	}

	t.Run("misrouted", func(t *testing.T) {
		c := rawPeer(t, ts[1])
		hello(t, c, 3, 2)
		var b []byte
		b = append(b, frame(t, msg(1, 2, 1, 0))...) // From is not the handshake's
		b = append(b, frame(t, msg(3, 1, 2, 0))...) // To is not s2
		b = append(b, frame(t, msg(3, 2, 3, 0))...) // fine
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the good message", func() bool { return c2.last(3) == 3 })
		if got := c2.get(3); len(got) != 1 || ts[1].Stats().Misrouted != 2 {
			t.Fatalf("delivered %v, misrouted %d", got, ts[1].Stats().Misrouted)
		}
		healthy()
	})

	t.Run("newest connection wins", func(t *testing.T) {
		old := rawPeer(t, ts[1])
		hello(t, old, 3, 2)
		if _, err := old.Write(frame(t, msg(3, 2, 10, 0))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the old connection's message", func() bool { return c2.last(3) == 10 })
		c := rawPeer(t, ts[1])
		hello(t, c, 3, 2)
		closedByPeer(t, old)
		if _, err := c.Write(frame(t, msg(3, 2, 11, 0))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the new connection's message", func() bool { return c2.last(3) == 11 })
		healthy()
	})
}

// TestSendNeverBlocks sends far more than the queue holds to a peer that
// is down: Send returns at once, the queue stays bounded, the excess is
// counted as dropped.
func TestSendNeverBlocks(t *testing.T) {
	noLeaks(t)
	lns := listeners(t, 1)
	cfg := testConfig(t)
	cfg.ID, cfg.Listen, cfg.SendQueueMax = 1, lns[0].Addr().String(), 100
	cfg.Peers = map[zab.ID]string{2: deadAddr(t)}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.startWith(lns[0]); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	const total = 20000
	start := time.Now()
	for seq := uint64(1); seq <= total; seq++ {
		tr.Send(msg(1, 2, seq, 0))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%d sends took %v", total, d)
	}
	st := tr.Stats().Peers[2]
	if st.Queued > 100 || st.Queued+int(st.Dropped) != total || st.Sent != 0 || st.Connected {
		t.Fatalf("stats %+v", st)
	}
	tr.Send(msg(1, 9, 1, 0)) // unknown server
	tr.Send(msg(7, 2, 1, 0)) // not from this server
	if s := tr.Stats(); s.Unroutable != 2 {
		t.Fatalf("unroutable %d, want 2", s.Unroutable)
	}
}

// TestStuckPeer points a transport at a peer that completes the handshake
// and then never reads: the write deadline breaks the link, Send stays
// fast, messages are dropped and counted, and Stop is prompt.
func TestStuckPeer(t *testing.T) {
	noLeaks(t)
	lns := listeners(t, 2)
	stuck := lns[1]
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := stuck.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			var b [handshakeBytes]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				continue
			}
			c.Write(appendHandshake(nil, handshake{Version: protocolVersion, From: 2, To: 1}))
			// and never read again
		}
	})
	defer func() {
		stuck.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()

	cfg := testConfig(t)
	// A queue that never fills: the link must break on the write deadline.
	cfg.ID, cfg.Listen, cfg.SendQueueMax = 1, lns[0].Addr().String(), 100000
	cfg.WriteTimeout = time.Second
	cfg.Peers = map[zab.ID]string{2: stuck.Addr().String()}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.startWith(lns[0]); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop() // before the fake peer's cleanup, on every path
	waitFor(t, 5*time.Second, "link to the stuck peer", func() bool { return tr.Stats().Peers[2].Connected })
	var slowest time.Duration
	deadline := time.Now().Add(10 * time.Second)
	seq := uint64(0)
	for {
		st := tr.Stats().Peers[2]
		if st.Reconnects >= 1 && st.Dropped > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stuck link never broke: %+v", st)
		}
		seq++
		start := time.Now()
		tr.Send(msg(1, 2, seq, 64<<10))
		slowest = max(slowest, time.Since(start))
		time.Sleep(5 * time.Millisecond) // fills the socket buffers in about a second
	}
	// The writer sat in a write for WriteTimeout; no Send waited for it.
	if slowest > 300*time.Millisecond {
		t.Fatalf("a Send took %v", slowest)
	}
	start := time.Now()
	tr.Stop()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stop took %v", d)
	}
	t.Logf("%d sends, slowest %v, stats %+v", seq, slowest, tr.Stats().Peers[2])
}

// TestOversizedSend: a message over MaxFrameBytes is dropped, the link
// breaks, and later messages arrive on the next connection.
func TestOversizedSend(t *testing.T) {
	noLeaks(t)
	ts := ensemble(t, 2, func(c *Config) { c.MaxFrameBytes = 4 << 10 })
	c2 := collect(ts[1])
	waitFor(t, 10*time.Second, "every link up", allConnected(ts))
	ts[0].Send(msg(1, 2, 1, 0))
	waitFor(t, 5*time.Second, "first message", func() bool { return c2.last(1) == 1 })
	ts[0].Send(msg(1, 2, 2, 8<<10))
	waitFor(t, 5*time.Second, "the drop", func() bool { return ts[0].Stats().Peers[2].Dropped >= 1 })
	waitFor(t, 5*time.Second, "reconnect", func() bool {
		st := ts[0].Stats().Peers[2]
		return st.Connected && st.Reconnects >= 1
	})
	ts[0].Send(msg(1, 2, 3, 1<<10))
	waitFor(t, 5*time.Second, "the message after", func() bool { return c2.last(1) == 3 })
	if got := c2.get(1); len(got) != 2 {
		t.Fatalf("delivered %v", got)
	}
}

// TestStop: Stop is prompt even when nobody drains Recv and traffic is
// flowing; Start after Stop, a second Start and a busy port are errors.
func TestStop(t *testing.T) {
	noLeaks(t)
	ts := ensemble(t, 3, func(c *Config) { c.RecvQueueMax = 1 })
	waitFor(t, 10*time.Second, "every link up", allConnected(ts))
	for seq := uint64(1); seq <= 2000; seq++ {
		ts[0].Send(msg(1, 2, seq, 1<<10))
		ts[2].Send(msg(3, 2, seq, 1<<10))
	}
	if err := ts[0].Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	start := time.Now()
	for _, tr := range ts {
		tr.Stop()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if err := ts[0].Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
	ts[0].Stop() // twice is fine
	for range ts[1].Recv() {
	} // closed

	busy := listeners(t, 1)[0]
	defer busy.Close()
	cfg := testConfig(t)
	cfg.ID, cfg.Listen = 1, busy.Addr().String()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	if err := tr.Start(); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

func TestConfig(t *testing.T) {
	ok := Config{ID: 1, Listen: "127.0.0.1:2888", Peers: map[zab.ID]string{2: "10.0.0.2:2888"}}
	if _, err := New(ok); err != nil {
		t.Fatalf("good config: %v", err)
	}
	d := ok.WithDefaults()
	if d.MaxFrameBytes != DefaultMaxFrameBytes || d.SendQueueMax != DefaultSendQueueMax || d.Logger == nil ||
		d.DialBackoffMin != DefaultDialBackoffMin || d.DialBackoffMax != DefaultDialBackoffMax || d.WriteTimeout != DefaultWriteTimeout {
		t.Fatalf("defaults: %+v", d)
	}
	if d := (Config{DialBackoffMin: 5 * time.Second}).WithDefaults(); d.DialBackoffMax < d.DialBackoffMin {
		t.Fatalf("default max backoff below a set minimum: %+v", d)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"zero id", func(c *Config) { c.ID = 0 }},
		{"no listen", func(c *Config) { c.Listen = "" }},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }},
		{"peer is self", func(c *Config) { c.Peers = map[zab.ID]string{1: "h:1"} }},
		{"peer zero", func(c *Config) { c.Peers = map[zab.ID]string{0: "h:1"} }},
		{"peer address", func(c *Config) { c.Peers = map[zab.ID]string{2: "nope"} }},
		{"tiny frames", func(c *Config) { c.MaxFrameBytes = 10 }},
		{"huge frames", func(c *Config) { c.MaxFrameBytes = 2 << 30 }},
		{"negative queue", func(c *Config) { c.SendQueueMax = -1 }},
		{"negative recv queue", func(c *Config) { c.RecvQueueMax = -1 }},
		{"backoff range", func(c *Config) { c.DialBackoffMin, c.DialBackoffMax = time.Second, time.Millisecond }},
		{"negative backoff", func(c *Config) { c.DialBackoffMin = -1 }},
		{"negative write timeout", func(c *Config) { c.WriteTimeout = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Peers = map[zab.ID]string{2: "10.0.0.2:2888"}
			tc.edit(&c)
			if _, err := New(c); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v, want ErrBadConfig", err)
			}
		})
	}
}
