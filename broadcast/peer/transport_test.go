package peer

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"zkd/broadcast/zab"
)

// noLeaks fails the test if goroutines it started outlive it. Register it
// first: cleanups run last-in first-out, so it runs after every Stop.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testConfig(t testing.TB) Config {
	return Config{
		DialBackoffMin:   5 * time.Millisecond,
		DialBackoffMax:   50 * time.Millisecond,
		HandshakeTimeout: 2 * time.Second,
		WriteTimeout:     2 * time.Second,
		Logger:           testLogger(t),
	}
}

// listeners opens n listeners on loopback so every port is known before
// any transport is made.
func listeners(t testing.TB, n int) []net.Listener {
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	return lns
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln := listeners(t, 1)[0]
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ensemble starts n transports with ids 1..n on loopback (index i is id
// i+1), configured by cfg plus tweak, and stops them at cleanup.
func ensemble(t testing.TB, n int, tweak func(*Config)) []*Transport {
	lns := listeners(t, n)
	ts := make([]*Transport, n)
	for i := range ts {
		cfg := testConfig(t)
		cfg.ID = zab.ID(i + 1)
		cfg.Listen = lns[i].Addr().String()
		cfg.Peers = map[zab.ID]string{}
		for j, ln := range lns {
			if j != i {
				cfg.Peers[zab.ID(j+1)] = ln.Addr().String()
			}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts[i] = tr
	}
	for i, tr := range ts {
		if err := tr.startWith(lns[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Stop)
	}
	return ts
}

func allConnected(ts []*Transport) func() bool {
	return func() bool {
		for _, tr := range ts {
			for _, ps := range tr.Stats().Peers {
				if !ps.Connected || !ps.InboundConnected {
					return false
				}
			}
		}
		return true
	}
}

// msg is a small message carrying seq in its Zxid; bigBytes > 0 makes it a
// PROPOSAL with an entry of that size whose bytes depend on seq.
func msg(from, to zab.ID, seq uint64, bigBytes int) zab.Message {
	m := zab.Message{Type: zab.MsgPing, From: from, To: to, Epoch: 1, Zxid: zab.Zxid(seq)}
	if bigBytes > 0 {
		m.Type = zab.MsgProposal
		m.Entries = []zab.Entry{{Zxid: zab.Zxid(seq), Data: bytes.Repeat([]byte{byte(seq)}, bigBytes)}}
	}
	return m
}

// collector drains a transport's Recv and records, per sender, the
// sequence numbers in arrival order. It ends when Stop closes Recv.
type collector struct {
	mu   sync.Mutex
	seqs map[zab.ID][]uint64
	bad  []string
}

func collect(tr *Transport) *collector {
	c := &collector{seqs: map[zab.ID][]uint64{}}
	go func() {
		for m := range tr.Recv() {
			c.mu.Lock()
			c.seqs[m.From] = append(c.seqs[m.From], uint64(m.Zxid))
			if len(m.Entries) > 0 && (m.Entries[0].Zxid != m.Zxid || m.Entries[0].Data[0] != byte(m.Zxid)) {
				c.bad = append(c.bad, m.String())
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) get(from zab.ID) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs[from])
}

func (c *collector) last(from zab.ID) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.seqs[from]
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// gaps checks that seqs strictly increase (FIFO, no duplicates) and
// returns the number of places where it skips.
func gaps(t *testing.T, what string, seqs []uint64) int {
	t.Helper()
	n := 0
	var prev uint64
	for i, s := range seqs {
		if s <= prev {
			t.Fatalf("%s: seq %d after %d at position %d (reordered or duplicated)", what, s, prev, i)
		}
		if s != prev+1 && i > 0 {
			n++
		}
		prev = s
	}
	return n
}

func TestDelivery(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("servers=%d", n), func(t *testing.T) {
			noLeaks(t)
			const perLink = 3000
			ts := ensemble(t, n, func(c *Config) { c.SendQueueMax = perLink + 1 })
			cs := make([]*collector, n)
			for i, tr := range ts {
				cs[i] = collect(tr)
			}
			waitFor(t, 10*time.Second, "every link up", allConnected(ts))

			var wg sync.WaitGroup
			for i, tr := range ts {
				wg.Go(func() {
					for seq := uint64(1); seq <= perLink; seq++ {
						big := 0
						if seq%500 == 0 {
							big = 300 << 10 // several write chunks and a grown read buffer
						}
						for j := range ts {
							if j != i {
								tr.Send(msg(zab.ID(i+1), zab.ID(j+1), seq, big))
							}
						}
					}
				})
			}
			wg.Wait()
			waitFor(t, 30*time.Second, "every message delivered", func() bool {
				for i, c := range cs {
					for j := range ts {
						if j != i && c.last(zab.ID(j+1)) != perLink {
							return false
						}
					}
				}
				return true
			})
			for i, c := range cs {
				for j := range ts {
					if j == i {
						continue
					}
					seqs := c.get(zab.ID(j + 1))
					if len(seqs) != perLink || gaps(t, fmt.Sprintf("s%d from s%d", i+1, j+1), seqs) != 0 {
						t.Fatalf("s%d from s%d: %d messages, want %d in order", i+1, j+1, len(seqs), perLink)
					}
				}
				if len(c.bad) > 0 {
					t.Fatalf("corrupt messages: %v", c.bad[:1])
				}
			}
			for i, tr := range ts {
				for id, ps := range tr.Stats().Peers {
					if ps.Sent != perLink || ps.Received != perLink || ps.Dropped != 0 || ps.Reconnects != 0 {
						t.Errorf("s%d link to %v: %+v", i+1, id, ps)
					}
				}
			}
		})
	}
}

// TestLinkBreaks breaks links mid-stream, from either end, and checks that
// every link delivers a strictly increasing subsequence with no more gaps
// than breaks, and that traffic flows again afterwards.
func TestLinkBreaks(t *testing.T) {
	noLeaks(t)
	const total = 4000
	ts := ensemble(t, 3, func(c *Config) { c.SendQueueMax = total + 1 })
	cs := []*collector{collect(ts[0]), collect(ts[1]), collect(ts[2])}
	waitFor(t, 10*time.Second, "every link up", allConnected(ts))

	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(1); seq <= total; seq++ {
			ts[0].Send(msg(1, 2, seq, 0))
			ts[0].Send(msg(1, 3, seq, 0))
			if seq%40 == 0 {
				time.Sleep(time.Millisecond) // spread the stream over the breaks
			}
		}
	}()
	breaks := 0
	for i := range 6 {
		waitFor(t, 10*time.Second, "link 1->2 up", func() bool { return ts[0].Stats().Peers[2].Connected })
		var ok bool
		if i%2 == 0 {
			ok = ts[0].breakOutbound(2)
		} else {
			ok = ts[1].breakInbound(1)
		}
		if ok {
			breaks++
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-done
	waitFor(t, 10*time.Second, "link 1->2 up again", func() bool { return ts[0].Stats().Peers[2].Connected })
	// What is sent once the link is back must arrive.
	for seq := uint64(total + 1); seq <= total+100; seq++ {
		ts[0].Send(msg(1, 2, seq, 0))
		ts[0].Send(msg(1, 3, seq, 0))
	}
	waitFor(t, 10*time.Second, "the stream's end at s2 and s3", func() bool {
		return cs[1].last(1) == total+100 && cs[2].last(1) == total+100
	})
	broken := gaps(t, "s2 from s1", cs[1].get(1))
	if st := ts[0].Stats().Peers[2]; uint64(broken) > st.Reconnects {
		t.Fatalf("%d gaps with %d reconnects (%+v)", broken, st.Reconnects, st)
	}
	if st := ts[0].Stats().Peers[2]; st.Reconnects < 1 || breaks < 1 {
		t.Fatalf("no reconnect after %d breaks: %+v", breaks, st)
	}
	if seqs := cs[2].get(1); len(seqs) != total+100 || gaps(t, "s3 from s1", seqs) != 0 {
		t.Fatalf("unbroken link 1->3 delivered %d of %d", len(seqs), total+100)
	}
	t.Logf("%d breaks, %d gaps, stats %+v", breaks, broken, ts[0].Stats().Peers[2])
}
