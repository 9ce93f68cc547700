package netiotest

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
	"zkd/netio/loopback"

	"zkd/broadcast"
	"zkd/broadcast/peer"
	"zkd/broadcast/replica"
	"zkd/broadcast/zab"
	"zkd/netio"
	"zkd/tree"
)

// Ensemble is n in-process zkd servers replicating through Zab on
// loopback, each with its log in memory (replica.MemStorage), so a member
// stopped and started again comes back with what it had persisted.
type Ensemble struct {
	t       testing.TB
	cfg     netio.Config
	tune    []func(*broadcast.EnsembleConfig)
	Members []*Member
	links   map[linkKey]*link // every directed peer link, for Isolate
}

// Member is one server of an Ensemble.
type Member struct {
	ID       int
	Addr     string // client address
	PeerAddr string
	storage  *replica.MemStorage
	srv      *netio.Server
}

// StallStorage blocks the member's log writes until release is called:
// the member falls behind the ensemble (it neither acknowledges nor
// applies) while it still has its leader and takes clients.
func (m *Member) StallStorage() (release func()) { return m.storage.Stall() }

// Storage is the member's log and snapshot storage, kept across restarts.
func (m *Member) Storage() *replica.MemStorage { return m.storage }

// Server is the running server, or nil while stopped.
func (m *Member) Server() *netio.Server { return m.srv }

// StartEnsemble starts n members configured as cfg (TickTime should be
// short, 100 ms or so, for tests to be quick), each on free loopback
// ports, and stops them when the test ends. ZKD_TEST_LOG=1 shows their
// logs. tune, if any, adjusts each member's broadcast.EnsembleConfig.
func StartEnsemble(t testing.TB, n int, cfg netio.Config, tune ...func(*broadcast.EnsembleConfig)) *Ensemble {
	t.Helper()
	e := &Ensemble{t: t, cfg: cfg, tune: tune}
	addrs := freeAddrs(t, 2*n)
	for i := range n {
		e.Members = append(e.Members, &Member{
			ID: i + 1, Addr: addrs[2*i], PeerAddr: addrs[2*i+1], storage: &replica.MemStorage{},
		})
	}
	e.links = map[linkKey]*link{}
	for _, a := range e.Members {
		for _, b := range e.Members {
			if a != b {
				e.links[linkKey{a.ID, b.ID}] = newLink(t, b.PeerAddr)
			}
		}
	}
	for i := range e.Members {
		e.Start(i)
	}
	t.Cleanup(func() {
		for i := range e.Members {
			e.Stop(i)
		}
	})
	return e
}

// Addrs lists the members' client addresses.
func (e *Ensemble) Addrs() []string {
	out := make([]string, len(e.Members))
	for i, m := range e.Members {
		out[i] = m.Addr
	}
	return out
}

// Start (re)starts member i from its storage with an empty tree, as a
// process restart would.
func (e *Ensemble) Start(i int) {
	e.t.Helper()
	m := e.Members[i]
	if m.srv != nil {
		return
	}
	ids := make([]zab.ID, 0, len(e.Members))
	peers := map[zab.ID]string{}
	for _, o := range e.Members {
		ids = append(ids, zab.ID(o.ID))
		if o != m {
			// Through the link proxy, so that a test can cut it.
			peers[zab.ID(o.ID)] = e.links[linkKey{m.ID, o.ID}].addr()
		}
	}
	tick := e.cfg.TickTime
	if tick <= 0 {
		tick = 100 * time.Millisecond
	}
	zc := zab.Config{
		ID: zab.ID(m.ID), Peers: ids, ElectionTicks: 2, InitTicks: 100, SyncTicks: 50, HeartbeatTicks: 5,
		Seed: uint64(time.Now().UnixNano()),
	}
	t := tree.New()
	if snap := m.storage.Restart(&zc); snap.Zxid > 0 {
		var err error
		if t, err = broadcast.DecodeSnapshot(snap); err != nil {
			e.t.Fatalf("member %d: %v", m.ID, err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("ZKD_TEST_LOG") == "1" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("member", m.ID)
	}
	ec := broadcast.EnsembleConfig{
		Replica: replica.Config{
			Zab: zc,
			Peer: peer.Config{ID: zab.ID(m.ID), Listen: m.PeerAddr, Peers: peers, Logger: logger,
				DialBackoffMin: 5 * time.Millisecond, DialBackoffMax: 50 * time.Millisecond},
			Tick: tick / 10, Storage: m.storage, Logger: logger,
		},
		ExtendedTypes: e.cfg.ExtendedTypes,
		TouchEvery:    tick / 2,
		Logger:        logger,
	}
	for _, f := range e.tune {
		f(&ec)
	}
	ens := broadcast.NewEnsemble(ec)
	cfg := e.cfg
	cfg.Addr, cfg.ServerID = m.Addr, int64(m.ID)
	srv := netio.NewEnsembleServer(cfg, t, ens, logger)
	if err := srv.Start(); err != nil {
		e.t.Fatalf("member %d: %v", m.ID, err)
	}
	m.srv = srv
}

// freeAddrs returns n distinct free loopback addresses; they stay free
// for restarts (see package loopback).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out, err := loopback.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Stop stops member i, as a process exit would (its storage stays).
func (e *Ensemble) Stop(i int) {
	if m := e.Members[i]; m.srv != nil {
		m.srv.Stop()
		m.srv = nil
	}
}

// WaitServing waits until every running member serves, with one leader,
// and returns the leader's index (-1 after timeout).
func (e *Ensemble) WaitServing(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		leader, ok := -1, true
		for i, m := range e.Members {
			if m.srv == nil {
				continue
			}
			switch m.srv.Mode() {
			case "leader":
				leader = i
			case "follower":
			default:
				ok = false
			}
		}
		if ok && leader >= 0 {
			return leader
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}
