package zab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// The simulation runs N replicas in one goroutine from one seed: a network
// of FIFO links that can break (losing what is in flight) and partition,
// with delays; disks where a crash loses what was not yet reported durable
// (or keeps a prefix of it, in the order the Ready contract gives); random
// crashes, restarts, proposals, snapshots with log compaction. After every
// step it checks Zab's invariants; then it heals everything and requires
// progress within a bound.
//
// Long campaign:
//
//	go test ./broadcast/zab/ -count=1 -run TestSimulation -zab.seeds=1000 -zab.seed0=$(date +%s) -timeout 2h
//
// (about 3 minutes per 1000 seeds on 2 cores; -zab.ticks=8000 makes each
// run five times longer).
//
// One seed, with a trace of the last events on failure:
//
//	go test ./broadcast/zab/ -run TestSimulation -zab.n=5 -zab.seed=1234
var (
	simSeeds  = flag.Int("zab.seeds", 0, "seeds per cluster size for TestSimulation (0: a few; more under -short is fewer)")
	simSeed0  = flag.Uint64("zab.seed0", 1, "first seed of TestSimulation")
	simSeed   = flag.Uint64("zab.seed", 0, "run only this seed (with -zab.n)")
	simN      = flag.Int("zab.n", 0, "cluster size for -zab.seed (0: 3, 5 and 7)")
	simTicks  = flag.Int("zab.ticks", 1500, "ticks of the safety phase")
	simTraceN = flag.Int("zab.trace", 60, "events printed on failure")
)

const (
	simStepsPerTick  = 10
	simLivenessTicks = 300
)

type simEvent struct {
	now  int64
	what string
	m    *Message
}

type simMsg struct {
	m  Message
	at int64
}

type simLink struct {
	q      []simMsg
	lastAt int64
}

type simDisk struct {
	hs      HardState
	snap    Snapshot
	entries []Entry
}

type simNode struct {
	id          ID
	up          bool
	restartAt   int64
	incarnation int
	node        *Node
	disk        simDisk
	pending     *Ready
	fsyncAt     int64
	applied     []Zxid // this incarnation's state machine: the zxids applied, in order
	established bool
	slowDisk    bool
}

type sim struct {
	t       testing.TB
	n       int
	seed    uint64
	rng     *rand.Rand
	ids     []ID
	nodes   []*simNode
	links   [][]simLink // [from-1][to-1]
	cut     [][]bool
	now     int64
	canon   []Entry // the committed sequence, as nodes applied it
	leaders map[Epoch]string
	nextVal int
	faulty  bool // the safety phase: faults on
	trace   []simEvent
	traceAt int
	failed  bool

	stats struct {
		proposed, crashes, partitions, breaks, snaps, sent, dropped int
		syncs                                                       [SyncSnap + 1]int
	}
}

func newSim(t testing.TB, n int, seed uint64) *sim {
	s := &sim{t: t, n: n, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5a5a)), leaders: map[Epoch]string{}}
	for i := 1; i <= n; i++ {
		s.ids = append(s.ids, ID(i))
	}
	s.links = make([][]simLink, n)
	s.cut = make([][]bool, n)
	for i := range n {
		s.links[i] = make([]simLink, n)
		s.cut[i] = make([]bool, n)
		s.nodes = append(s.nodes, &simNode{id: ID(i + 1)})
	}
	s.trace = make([]simEvent, max(*simTraceN, 1))
	for _, sn := range s.nodes {
		s.start(sn)
	}
	return s
}

func (s *sim) record(what string, m *Message) {
	s.trace[s.traceAt%len(s.trace)] = simEvent{now: s.now, what: what, m: m}
	s.traceAt++
}

func (s *sim) fatalf(format string, args ...any) {
	s.failed = true
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d n=%d t=%d (tick %d): %s\n", s.seed, s.n, s.now, s.now/simStepsPerTick, fmt.Sprintf(format, args...))
	fmt.Fprintf(&b, "rerun: go test ./broadcast/zab/ -run TestSimulation -zab.n=%d -zab.seed=%d\n", s.n, s.seed)
	for _, sn := range s.nodes {
		if sn.up {
			fmt.Fprintf(&b, "  %+v\n", sn.node.Status())
		} else {
			fmt.Fprintf(&b, "  %v down, disk %v snap=%v entries=%d\n", sn.id, sn.disk.hs, sn.disk.snap.Zxid, len(sn.disk.entries))
		}
	}
	b.WriteString("last events:\n")
	for i := max(0, s.traceAt-len(s.trace)); i < s.traceAt; i++ {
		e := s.trace[i%len(s.trace)]
		if e.m != nil {
			fmt.Fprintf(&b, "  %6d %s %v\n", e.now, e.what, *e.m)
		} else {
			fmt.Fprintf(&b, "  %6d %s\n", e.now, e.what)
		}
	}
	s.t.Fatal(b.String())
}

func encodeApplied(zs []Zxid) []byte {
	b := make([]byte, 8*len(zs))
	for i, z := range zs {
		binary.BigEndian.PutUint64(b[8*i:], uint64(z))
	}
	return b
}

func decodeApplied(b []byte) []Zxid {
	zs := make([]Zxid, len(b)/8)
	for i := range zs {
		zs[i] = Zxid(binary.BigEndian.Uint64(b[8*i:]))
	}
	return zs
}

type simSnapshots struct{ sn *simNode }

func (ss simSnapshots) Snapshot() (Snapshot, error) {
	if ss.sn.disk.snap.Zxid == 0 {
		return Snapshot{}, errors.New("sim: no snapshot")
	}
	return ss.sn.disk.snap, nil
}

// start creates a node from its disk, as a restart does.
func (s *sim) start(sn *simNode) {
	d := &sn.disk
	node, err := NewNode(Config{
		ID: sn.id, Peers: s.ids,
		ElectionTicks: 10, InitTicks: 10, SyncTicks: 5, HeartbeatTicks: 1,
		Seed:      s.seed ^ uint64(sn.incarnation)<<20,
		HardState: d.hs, LogStart: d.snap.Zxid, Entries: slices.Clone(d.entries), Applied: d.snap.Zxid,
		Snapshots: simSnapshots{sn},
		Logf: func(format string, args ...any) {
			s.record(fmt.Sprintf(format, args...), nil)
		},
	})
	if err != nil {
		s.fatalf("restart %v: %v", sn.id, err)
	}
	if s.rng.IntN(2) == 0 {
		node.syncChunkEntries = 1 + s.rng.IntN(8) // sync in many messages
	}
	sn.node, sn.up, sn.pending, sn.established = node, true, nil, false
	sn.incarnation++
	sn.applied = decodeApplied(d.snap.Data)
	s.checkPrefix(sn, "restart")
	s.record(fmt.Sprintf("start %v/%d %v snap=%v entries=%d", sn.id, sn.incarnation, d.hs, d.snap.Zxid, len(d.entries)), nil)
}

func (s *sim) crash(sn *simNode) {
	if rd := sn.pending; rd != nil && s.rng.IntN(2) == 0 {
		// The disk kept a prefix of the Ready, in contract order.
		ops := len(rd.Entries) + 3
		s.persist(sn, rd, s.rng.IntN(ops+1))
	}
	sn.up, sn.node, sn.pending = false, nil, nil
	sn.restartAt = s.now + int64(s.rng.IntN(40*simStepsPerTick))
	s.breakLinks(sn.id)
	s.stats.crashes++
	s.record(fmt.Sprintf("crash %v", sn.id), nil)
}

// persist writes the first ops steps of rd to the disk: snapshot,
// truncation, each entry, hard state.
func (s *sim) persist(sn *simNode, rd *Ready, ops int) {
	d := &sn.disk
	if ops <= 0 {
		return
	}
	if rd.Snapshot != nil {
		d.snap, d.entries = *rd.Snapshot, nil
	}
	if ops--; ops <= 0 {
		return
	}
	if rd.Truncate {
		i, _ := slices.BinarySearchFunc(d.entries, rd.TruncateAfter+1, func(e Entry, z Zxid) int { return cmpZxid(e.Zxid, z) })
		d.entries = d.entries[:i:i]
	}
	if ops--; ops <= 0 {
		return
	}
	for _, e := range rd.Entries {
		last := d.snap.Zxid
		if len(d.entries) > 0 {
			last = d.entries[len(d.entries)-1].Zxid
		}
		if e.Zxid <= last {
			s.fatalf("%v: Ready appends %v after %v on disk", sn.id, e.Zxid, last)
		}
		d.entries = append(d.entries, e)
		if ops--; ops <= 0 {
			return
		}
	}
	if rd.HardState != nil {
		d.hs = *rd.HardState
	}
}

func cmpZxid(a, b Zxid) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *sim) breakLinks(id ID) {
	for i := range s.n {
		s.dropLink(ID(i+1), id)
		s.dropLink(id, ID(i+1))
	}
}

func (s *sim) dropLink(from, to ID) {
	l := &s.links[from-1][to-1]
	s.stats.dropped += len(l.q)
	l.q = l.q[:0]
}

func (s *sim) send(m Message) {
	s.stats.sent++
	if m.Type == MsgNewLeader {
		s.stats.syncs[m.Sync]++
	}
	from, to := s.nodes[m.From-1], s.nodes[m.To-1]
	if !from.up || !to.up || s.cut[m.From-1][m.To-1] {
		s.stats.dropped++
		return
	}
	l := &s.links[m.From-1][m.To-1]
	d := int64(1 + s.rng.IntN(12))
	if s.rng.IntN(50) == 0 {
		d += int64(s.rng.IntN(60))
	}
	at := max(s.now+d, l.lastAt)
	l.lastAt = at
	l.q = append(l.q, simMsg{m: m, at: at})
}

func (s *sim) deliver() {
	order := s.rng.Perm(s.n * s.n)
	for _, k := range order {
		l := &s.links[k/s.n][k%s.n]
		for len(l.q) > 0 && l.q[0].at <= s.now {
			m := l.q[0].m
			l.q = l.q[1:]
			to := s.nodes[m.To-1]
			if !to.up {
				continue
			}
			s.record("recv", &m)
			if err := to.node.Step(m); err != nil {
				s.fatalf("step %v: %v", m, err)
			}
		}
	}
}

// handleReady runs each node's driver: take a Ready, send what may go at
// once, and some steps later (the fsync) persist it, send the rest, apply
// and Advance.
func (s *sim) handleReady(sn *simNode) {
	if sn.pending == nil && sn.node.HasReady() {
		rd := sn.node.Ready()
		sn.pending = &rd
		sn.fsyncAt = s.now + int64(s.rng.IntN(5))
		if sn.slowDisk || s.faulty && s.rng.IntN(4) == 0 {
			sn.fsyncAt += int64(s.rng.IntN(40)) // a slow disk
		}
		for _, m := range rd.Messages {
			s.record("send", &m)
			s.send(m)
		}
	}
	if sn.pending == nil || sn.fsyncAt > s.now {
		return
	}
	rd := sn.pending
	s.persist(sn, rd, len(rd.Entries)+3)
	for _, m := range rd.MessagesAfterPersist {
		s.record("send", &m)
		s.send(m)
	}
	if rd.Snapshot != nil {
		zs := decodeApplied(rd.Snapshot.Data)
		if len(zs) < len(sn.applied) || len(zs) > 0 && zs[len(zs)-1] != rd.Snapshot.Zxid {
			s.fatalf("%v: snapshot %v (%d entries) goes back from %d applied", sn.id, rd.Snapshot.Zxid, len(zs), len(sn.applied))
		}
		sn.applied = zs
		s.checkPrefix(sn, "snapshot")
	}
	for _, e := range rd.Committed {
		s.apply(sn, e)
	}
	sn.pending = nil
	sn.node.Advance()
	if len(sn.applied) > 0 && s.rng.IntN(40) == 0 {
		last := sn.applied[len(sn.applied)-1]
		if last > sn.disk.snap.Zxid {
			sn.disk.snap = Snapshot{Zxid: last, Data: encodeApplied(sn.applied)}
			i, _ := slices.BinarySearchFunc(sn.disk.entries, last+1, func(e Entry, z Zxid) int { return cmpZxid(e.Zxid, z) })
			sn.disk.entries = slices.Clone(sn.disk.entries[i:])
			if err := sn.node.Compact(last); err != nil {
				s.fatalf("%v: compact %v: %v", sn.id, last, err)
			}
			s.stats.snaps++
			s.record(fmt.Sprintf("snapshot %v at %v", sn.id, last), nil)
		}
	}
}

func (s *sim) apply(sn *simNode, e Entry) {
	if k := len(sn.applied); k > 0 && e.Zxid <= sn.applied[k-1] {
		s.fatalf("%v applies %v after %v: twice or out of order", sn.id, e.Zxid, sn.applied[k-1])
	}
	i := len(sn.applied)
	switch {
	case i < len(s.canon):
		if c := s.canon[i]; c.Zxid != e.Zxid || !bytes.Equal(c.Data, e.Data) {
			s.fatalf("%v applies %v %q as commit #%d, which is %v %q elsewhere", sn.id, e.Zxid, e.Data, i, c.Zxid, c.Data)
		}
	case i == len(s.canon):
		s.canon = append(s.canon, Entry{Zxid: e.Zxid, Data: slices.Clone(e.Data)})
		s.checkDurableQuorum(e)
	default:
		s.fatalf("%v applies commit #%d with only %d known", sn.id, i, len(s.canon))
	}
	sn.applied = append(sn.applied, e.Zxid)
}

// checkDurableQuorum: an entry seen committed for the first time is on the
// disks of a quorum (in the log, or under a snapshot).
func (s *sim) checkDurableQuorum(e Entry) {
	count := 0
	for _, sn := range s.nodes {
		d := &sn.disk
		if e.Zxid <= d.snap.Zxid && slices.Contains(decodeApplied(d.snap.Data), e.Zxid) {
			count++
			continue
		}
		i, ok := slices.BinarySearchFunc(d.entries, e.Zxid, func(e Entry, z Zxid) int { return cmpZxid(e.Zxid, z) })
		if ok && bytes.Equal(d.entries[i].Data, e.Data) {
			count++
		}
	}
	if count < s.n/2+1 {
		s.fatalf("%v committed but durable on %d of %d disks", e.Zxid, count, s.n)
	}
}

func (s *sim) checkPrefix(sn *simNode, what string) {
	for i, z := range sn.applied {
		if i >= len(s.canon) {
			s.fatalf("%v %s: state has %d commits, only %d known", sn.id, what, len(sn.applied), len(s.canon))
		}
		if s.canon[i].Zxid != z {
			s.fatalf("%v %s: commit #%d is %v, elsewhere %v", sn.id, what, i, z, s.canon[i].Zxid)
		}
	}
}

// checkLeaders: at most one established leader per epoch, and a leader's
// history holds every entry committed before it was established.
func (s *sim) checkLeaders() {
	for _, sn := range s.nodes {
		if !sn.up {
			continue
		}
		st := sn.node.Status()
		if st.Applied > st.Commit || st.Commit > st.LastZxid || st.Stable > st.LastZxid || st.LogStart > st.LastZxid ||
			st.HardState.CurrentEpoch > st.HardState.AcceptedEpoch || sn.disk.hs.CurrentEpoch > sn.disk.hs.AcceptedEpoch ||
			st.LastZxid.Epoch() > st.HardState.AcceptedEpoch {
			s.fatalf("%v: inconsistent status %+v, disk %v", sn.id, st, sn.disk.hs)
		}
		est := st.State == Leading && st.Established
		if est && !sn.established {
			who := fmt.Sprintf("%v/%d", sn.id, sn.incarnation)
			if prev, ok := s.leaders[st.Epoch]; ok && prev != who {
				s.fatalf("two leaders in epoch %v: %s and %s", st.Epoch, prev, who)
			}
			s.leaders[st.Epoch] = who
			s.record(fmt.Sprintf("established %s epoch %v", who, st.Epoch), nil)
			l := &sn.node.log
			for _, c := range s.canon {
				if c.Zxid <= l.start {
					continue
				}
				i := l.search(c.Zxid)
				if i == len(l.entries) || l.entries[i].Zxid != c.Zxid || !bytes.Equal(l.entries[i].Data, c.Data) {
					s.fatalf("leader %s of %v lacks committed %v", who, st.Epoch, c.Zxid)
				}
			}
		}
		sn.established = est
	}
}

func (s *sim) step(faults bool) {
	s.faulty = faults
	s.now++
	s.deliver()
	for _, sn := range s.nodes {
		if sn.up {
			s.handleReady(sn)
		} else if !faults || s.now >= sn.restartAt {
			s.start(sn)
		}
	}
	if s.now%simStepsPerTick == 0 {
		for _, sn := range s.nodes {
			if sn.up {
				sn.node.Tick()
			}
		}
	}
	if faults {
		s.faults()
	}
	if s.rng.IntN(10) == 0 {
		s.propose()
	}
	s.checkLeaders()
}

// propose offers a burst of proposals to a random server, usually one that
// believes it leads (a partitioned old leader too: its entries are the
// ones later TRUNCs cut).
func (s *sim) propose() {
	sn := s.nodes[s.rng.IntN(s.n)]
	if s.rng.IntN(2) == 0 {
		for _, i := range s.rng.Perm(s.n) {
			if c := s.nodes[i]; c.up && c.node.state == Leading {
				sn = c
				break
			}
		}
	}
	if !sn.up {
		return
	}
	for range 1 + s.rng.IntN(4) {
		s.nextVal++
		if _, err := sn.node.Propose(fmt.Appendf(nil, "v%d", s.nextVal)); err != nil {
			return
		}
		s.stats.proposed++
	}
}

func (s *sim) faults() {
	r := s.rng.IntN(10000)
	switch {
	case r < 6: // crash
		if sn := s.nodes[s.rng.IntN(s.n)]; sn.up {
			s.crash(sn)
		}
	case r < 8: // a power cut takes several servers at once
		for _, i := range s.rng.Perm(s.n)[:1+s.rng.IntN(s.n)] {
			if sn := s.nodes[i]; sn.up {
				s.crash(sn)
			}
		}
	case r < 12: // a disk turns slow, or fast again
		sn := s.nodes[s.rng.IntN(s.n)]
		sn.slowDisk = !sn.slowDisk
	case r < 16: // partition into two sides
		side := make([]bool, s.n)
		for i := range side {
			side[i] = s.rng.IntN(2) == 0
		}
		for i := range s.n {
			for j := range s.n {
				s.cut[i][j] = side[i] != side[j]
				if s.cut[i][j] {
					s.dropLink(ID(i+1), ID(j+1))
				}
			}
		}
		s.stats.partitions++
		s.record(fmt.Sprintf("partition %v", side), nil)
	case r < 34: // heal
		s.heal()
	case r < 54: // one link breaks (TCP reset): both directions lose what is in flight
		i, j := ID(1+s.rng.IntN(s.n)), ID(1+s.rng.IntN(s.n))
		s.dropLink(i, j)
		s.dropLink(j, i)
		s.stats.breaks++
		s.record(fmt.Sprintf("break %v-%v", i, j), nil)
	case r < 56: // a one-way cut
		i, j := s.rng.IntN(s.n), s.rng.IntN(s.n)
		s.cut[i][j] = true
		s.dropLink(ID(i+1), ID(j+1))
		s.record(fmt.Sprintf("cut %v->%v", i+1, j+1), nil)
	case r < 62: // a rigged election: safety must not rest on election
		l := ID(1 + s.rng.IntN(s.n))
		for _, sn := range s.nodes {
			if sn.up && sn.node.state == Looking && (sn.id == l || s.rng.IntN(2) == 0) {
				s.record(fmt.Sprintf("%v decides for %v", sn.id, l), nil)
				sn.node.decide(l)
			}
		}
	}
}

func (s *sim) heal() {
	for i := range s.n {
		clear(s.cut[i])
	}
}

// healAll ends every fault: cuts and slow disks.
func (s *sim) healAll() {
	s.heal()
	for _, sn := range s.nodes {
		sn.slowDisk = false
	}
}

func runSim(t testing.TB, n int, seed uint64) {
	s := newSim(t, n, seed)
	defer func() {
		if r := recover(); r != nil && !s.failed {
			s.fatalf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	for s.now < int64(*simTicks)*simStepsPerTick {
		s.step(true)
	}
	// Liveness: heal, restart everyone, stop faults; a leader must get
	// established and a new proposal must reach every server.
	s.healAll()
	s.record("heal", nil)
	var want []Zxid
	deadline := s.now + simLivenessTicks*simStepsPerTick
	for ; s.now < deadline; s.step(false) {
		if s.now%simStepsPerTick != 0 {
			continue
		}
		if s.now%(20*simStepsPerTick) == 0 || len(want) == 0 {
			for _, sn := range s.nodes {
				if !sn.up {
					continue
				}
				if st := sn.node.Status(); st.State == Leading && st.Established {
					if z, err := sn.node.Propose(fmt.Appendf(nil, "live%d", len(want))); err == nil {
						want = append(want, z)
					}
				}
			}
		}
		if s.allApplied(want) {
			if testing.Verbose() {
				s.t.Logf("seed=%d n=%d: %d commits, %d leaders, live after %d ticks; %+v", s.seed, s.n, len(s.canon), len(s.leaders),
					(s.now-deadline)/simStepsPerTick+simLivenessTicks, s.stats)
			}
			return
		}
	}
	s.fatalf("no progress within %d ticks after healing (proposed %v)", simLivenessTicks, want)
}

// allApplied: some proposal of want was applied by every server.
func (s *sim) allApplied(want []Zxid) bool {
	for _, z := range want {
		all := true
		for _, sn := range s.nodes {
			if !slices.Contains(sn.applied, z) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func TestSimulation(t *testing.T) {
	sizes := []int{3, 5, 7}
	if *simN != 0 {
		sizes = []int{*simN}
	}
	if *simSeed != 0 {
		for _, n := range sizes {
			runSim(t, n, *simSeed)
		}
		return
	}
	seeds := *simSeeds
	if seeds == 0 {
		seeds = 20
		if testing.Short() {
			seeds = 3
		}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			for i := range uint64(seeds) {
				runSim(t, n, *simSeed0+i)
			}
		})
	}
}
