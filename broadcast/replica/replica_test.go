package replica

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
	"zkd/netio/loopback"

	"zkd/broadcast/peer"
	"zkd/broadcast/zab"
	"zkd/netio/jute"
	"zkd/tree"
)

// recorder is a StateMachine that keeps what it was given.
type recorder struct {
	mu      sync.Mutex
	entries []zab.Entry
}

func (r *recorder) Restore(s zab.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = nil // the tests take no snapshots; a SNAP of nothing
	return nil
}

func (r *recorder) Apply(es []zab.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range es {
		r.entries = append(r.entries, zab.Entry{Zxid: e.Zxid, Data: slices.Clone(e.Data)})
	}
}

// data returns the applied entries' names: the data itself, or for an
// encoded txn its path without the slash.
func (r *recorder) data() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = string(e.Data)
		if x, err := DecodeEntry(e); err == nil && len(x.Path) > 1 {
			out[i] = x.Path[1:]
		}
	}
	return out
}

// server is one replica of a test ensemble and what outlives its restarts.
type server struct {
	id      zab.ID
	addr    string
	storage *MemStorage    // when not durable
	dir     string         // when durable: EngineStorage's directory
	eng     *EngineStorage // open while the replica runs
	sm      *recorder
	r       *Replica
}

type ensemble struct {
	t       *testing.T
	durable bool
	servers []*server
}

// freeAddrs returns n free loopback addresses (see package loopback).
func freeAddrs(t *testing.T, n int) []string {
	addrs, err := loopback.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

func newEnsemble(t *testing.T, n int, durable bool) *ensemble {
	e := &ensemble{t: t, durable: durable}
	for i, addr := range freeAddrs(t, n) {
		s := &server{id: zab.ID(i + 1), addr: addr, storage: &MemStorage{}}
		if durable {
			s.dir = t.TempDir()
		}
		e.servers = append(e.servers, s)
	}
	for i := range e.servers {
		e.start(i)
	}
	t.Cleanup(func() {
		for i := range e.servers {
			e.stop(i)
		}
	})
	return e
}

// stop stops server i, as a process exit would.
func (e *ensemble) stop(i int) {
	s := e.servers[i]
	if s.r != nil {
		if err := s.r.Stop(); err != nil {
			e.t.Errorf("s%d stopped with %v", s.id, err)
		}
		s.r = nil
	}
	if s.eng != nil {
		if err := s.eng.Close(); err != nil {
			e.t.Errorf("s%d storage close: %v", s.id, err)
		}
		s.eng = nil
	}
}

// start (re)starts server i from its storage with a fresh state machine,
// as a process restart would.
func (e *ensemble) start(i int) {
	s := e.servers[i]
	ids := make([]zab.ID, len(e.servers))
	peers := map[zab.ID]string{}
	for j, o := range e.servers {
		ids[j] = o.id
		if j != i {
			peers[o.id] = o.addr
		}
	}
	zc := zab.Config{
		ID: s.id, Peers: ids, ElectionTicks: 10, InitTicks: 100, SyncTicks: 30, HeartbeatTicks: 3,
		Seed: uint64(s.id),
	}
	var storage Storage = s.storage
	if e.durable {
		eng, err := OpenEngineStorage(s.dir)
		if err != nil {
			e.t.Fatalf("s%d storage: %v", s.id, err)
		}
		if err := eng.Restart(&zc); err != nil {
			e.t.Fatalf("s%d restart: %v", s.id, err)
		}
		s.eng, storage = eng, eng
	} else {
		s.storage.Restart(&zc)
	}
	s.sm = &recorder{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := Start(Config{
		Zab:  zc,
		Peer: peer.Config{ID: s.id, Listen: s.addr, Peers: peers, Logger: quiet, DialBackoffMin: 5 * time.Millisecond, DialBackoffMax: 50 * time.Millisecond},
		Tick: 5 * time.Millisecond, Storage: storage, SM: s.sm, Logger: quiet,
	})
	if err != nil {
		e.t.Fatalf("start s%d: %v", s.id, err)
	}
	s.r = r
}

// leader waits until one running server is the established leader and
// returns its index.
func (e *ensemble) leader(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, s := range e.servers {
			if s.r == nil {
				continue
			}
			if st, err := s.r.Status(); err == nil && st.State == zab.Leading && st.Established {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range e.servers {
		if s.r != nil {
			st, err := s.r.Status()
			e.t.Logf("s%d: %+v %v", s.id, st, err)
			e.t.Logf("s%d transport: %+v", s.id, s.r.transport.Stats())
		}
	}
	e.t.Fatalf("no established leader within %v", timeout)
	return -1
}

// propose offers count entries named prefix-k at the leader, retrying
// while a leader change is under way, and returns the names proposed.
func (e *ensemble) propose(prefix string, count int) []string {
	var names []string
	deadline := time.Now().Add(20 * time.Second)
	for k := 0; k < count; {
		if time.Now().After(deadline) {
			e.t.Fatalf("proposed only %d of %d", k, count)
		}
		l := e.leader(10 * time.Second)
		name := fmt.Sprintf("%s-%d", prefix, k)
		data := []byte(name)
		if e.durable {
			// EngineStorage keeps encoded txns; the recorder decodes the
			// name back from the path.
			data = EncodeEntry(&tree.Txn{Type: jute.OpCreate, Path: "/" + name, ACL: tree.OpenACLUnsafe})
		}
		if _, err := e.servers[l].r.Propose(data); err != nil {
			time.Sleep(5 * time.Millisecond) // not leader any more, or its queue is full
			continue
		}
		names = append(names, name)
		k++
	}
	return names
}

// converge waits until every running server applied want, in order.
func (e *ensemble) converge(want []string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, s := range e.servers {
			if s.r != nil && !slices.Equal(s.sm.data(), want) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, s := range e.servers {
				if s.r != nil {
					got := s.sm.data()
					e.t.Errorf("s%d applied %d entries (want %d); first difference at %d", s.id, len(got), len(want), firstDiff(got, want))
				}
			}
			e.t.Fatalf("servers did not converge within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEnsembleCommitsAndSurvivesLeaderLoss runs three replicas on
// loopback: they elect a leader and apply its proposals everywhere in one
// order; when the leader stops, the other two elect a new one and go on;
// when it comes back from its storage, it catches up to the same history.
func TestEnsembleCommitsAndSurvivesLeaderLoss(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) { ensembleScenario(t, durable) })
	}
}

func ensembleScenario(t *testing.T, durable bool) {
	e := newEnsemble(t, 3, durable)
	want := e.propose("a", 200)
	e.converge(want, 20*time.Second)

	old := e.leader(10 * time.Second)
	e.stop(old)
	want = append(want, e.propose("b", 100)...)
	e.converge(want, 20*time.Second)
	if l := e.leader(10 * time.Second); l == old {
		t.Fatalf("the stopped server s%d leads", e.servers[old].id)
	}

	e.start(old)
	want = append(want, e.propose("c", 50)...)
	e.converge(want, 20*time.Second)

	// Every replica's storage holds the same history.
	for i, s := range e.servers {
		var n int
		var last string
		if durable {
			e.stop(i) // the log is read back from disk
			eng, err := OpenEngineStorage(s.dir)
			if err != nil {
				t.Fatal(err)
			}
			var zc zab.Config
			if err := eng.Restart(&zc); err != nil {
				t.Fatal(err)
			}
			eng.Close()
			n = len(zc.Entries)
			if n > 0 {
				x, _ := DecodeEntry(zc.Entries[n-1])
				last = x.Path[1:]
			}
		} else {
			s.storage.mu.Lock()
			n = len(s.storage.entries)
			if n > 0 {
				last = string(s.storage.entries[n-1].Data)
			}
			s.storage.mu.Unlock()
		}
		if n != len(want) || last != want[len(want)-1] {
			t.Errorf("s%d stores %d entries ending %q, want %d ending %q", s.id, n, last, len(want), want[len(want)-1])
		}
	}
}

// TestUncommittedTailIsTruncated: a leader that logged proposals no
// follower received (both followers were down) comes back after the other
// two moved on under a new epoch; it must drop that tail (TRUNC) from its
// durable log and converge on the ensemble's history, never applying it.
func TestUncommittedTailIsTruncated(t *testing.T) {
	e := newEnsemble(t, 3, true)
	want := e.propose("a", 20)
	e.converge(want, 20*time.Second)
	l := e.leader(10 * time.Second)
	for i := range e.servers {
		if i != l {
			e.stop(i)
		}
	}
	// The lone leader still takes proposals until it notices it lost its
	// quorum; they reach its disk only.
	lone := 0
	for k := 0; k < 5; k++ {
		data := EncodeEntry(&tree.Txn{Type: jute.OpCreate, Path: fmt.Sprintf("/lost-%d", k), ACL: tree.OpenACLUnsafe})
		if _, err := e.servers[l].r.Propose(data); err == nil {
			lone++
		}
	}
	if lone == 0 {
		t.Skip("the leader stepped down before taking a proposal alone")
	}
	time.Sleep(50 * time.Millisecond) // let its Ready reach the disk
	e.stop(l)
	if got := len(restartState(t, e.servers[l].dir).Entries); got != len(want)+lone {
		t.Fatalf("the lone leader logged %d entries, want %d committed + %d alone", got, len(want), lone)
	}
	for i := range e.servers {
		if i != l {
			e.start(i)
		}
	}
	want = append(want, e.propose("b", 20)...)
	e.converge(want, 20*time.Second)
	e.start(l)
	want = append(want, e.propose("c", 5)...)
	e.converge(want, 20*time.Second)
	for _, s := range e.servers {
		for _, name := range s.sm.data() {
			if len(name) > 4 && name[:5] == "lost-" {
				t.Fatalf("s%d applied %s, which was never committed", s.id, name)
			}
		}
	}
	// And the old leader's disk no longer holds the tail.
	e.stop(l)
	cfg := restartState(t, e.servers[l].dir)
	if len(cfg.Entries) != len(want) {
		t.Fatalf("old leader's log holds %d entries, want %d", len(cfg.Entries), len(want))
	}
}

// TestProposeWithGivesTheZxid: the zxid ProposeWith hands the builder is
// the one the entry gets, across a change of leader (a new epoch restarts
// the counter at 1), so a transaction can carry its own zxid.
func TestProposeWithGivesTheZxid(t *testing.T) {
	e := newEnsemble(t, 3, false)
	propose := func(name string) zab.Zxid {
		for range 2000 {
			l := e.leader(10 * time.Second)
			var built zab.Zxid
			z, err := e.servers[l].r.ProposeWith(func(z zab.Zxid) []byte {
				built = z
				return []byte(name)
			})
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if z != built {
				t.Fatalf("%s: built for %v, proposed as %v", name, built, z)
			}
			return z
		}
		t.Fatalf("%s: never proposed", name)
		return 0
	}
	z1, z2 := propose("a"), propose("b")
	if z2 != z1+1 {
		t.Fatalf("zxids %v then %v", z1, z2)
	}
	e.converge([]string{"a", "b"}, 20*time.Second)
	e.stop(e.leader(10 * time.Second))
	z3 := propose("c")
	if z3.Epoch() <= z2.Epoch() || z3.Counter() != 1 {
		t.Fatalf("first zxid of the new leader %v after %v", z3, z2)
	}
	e.converge([]string{"a", "b", "c"}, 20*time.Second)
}
