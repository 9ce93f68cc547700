package broadcast

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"zkd/broadcast/replica"
	"zkd/broadcast/zab"
	"zkd/tree"
)

// Host is the server an Ensemble commits for (netio.Server). Every method
// is called from the replica's loop goroutine, which is the only writer
// of the tree.
type Host interface {
	// Apply applies committed transactions and answers the local
	// requests among them (reqs[i] is nil for the others); with err set
	// it applies nothing and answers every request with an error.
	StateMachine
	// Restore replaces the tree with one installed from a leader's
	// snapshot.
	Restore(t *tree.Tree)
	// TouchSessions gives the named sessions a fresh timeout; nil means
	// every session (a new leader starts every clock afresh).
	TouchSessions(ids []int64)
	// ActiveSessions appends the sessions whose clients this server has
	// heard from within their timeout.
	ActiveSessions(buf []int64) []int64
	// ReadTree runs f under the tree's read lock, which Apply's writes
	// exclude. Unlike the other methods it is called from the goroutine
	// that writes a snapshot, beside the loop.
	ReadTree(f func())
	// RoleChanged reports the server's part in the ensemble. A server
	// that is not serving drops its clients, as ZooKeeper's do when they
	// lose their leader; they reconnect when it serves again.
	RoleChanged(r Role)
}

// Role is a server's part in the ensemble.
type Role struct {
	Serving bool // leading an established epoch, or following one and up to date
	Leader  bool
	// LeaderID is the leader this server follows or is (0 while looking).
	LeaderID uint64
	Epoch    uint32
}

// Mode is the name srvr and mntr print: leader, follower or looking.
func (r Role) Mode() string {
	switch {
	case !r.Serving:
		return "looking"
	case r.Leader:
		return "leader"
	}
	return "follower"
}

// EnsembleConfig configures an Ensemble.
type EnsembleConfig struct {
	// Replica runs Zab; its SM, Forwarded, AfterReady and Zab.Snapshots
	// are the Ensemble's and are overwritten.
	Replica replica.Config
	// ExtendedTypes enables TTL nodes (zoo.cfg extendedTypesEnabled).
	ExtendedTypes bool
	// TouchEvery is how often a follower tells the leader which of its
	// sessions are alive (a fraction of tickTime).
	TouchEvery time.Duration
	// Snapshots, when set, keeps the snapshots of the tree the Ensemble
	// takes every SnapCount applied entries or so (randomised, as
	// ZooKeeper does, so that servers do not all snapshot at once): once
	// one is durable the storage drops its log up to it and the core its
	// in-memory log, and a restart begins from it.
	Snapshots Snapshotter
	SnapCount int
	// Without Snapshots, the core keeps CompactEvery applied entries in
	// memory before it drops all but the last CompactKeep (a follower
	// further behind gets a SNAP). Zero means the defaults.
	CompactEvery, CompactKeep int
	Logger                    *slog.Logger
}

// Snapshotter keeps snapshots durably (replica.EngineStorage).
type Snapshotter interface {
	SaveSnapshot(s zab.Snapshot) error
}

// ErrNotServing is the error Host.Apply gets for requests a server cannot
// take: it has no established leader, or lost it while the request was in
// flight (so the request may yet commit; netio closes the connection).
var ErrNotServing = errors.New("broadcast: this server is not serving (no established leader)")

// Ensemble replaces the Pipeline when zkd runs in an ensemble. On the
// leader, requests are prepared (tree.Preparer) and proposed through Zab,
// and each commit is applied in zxid order on every server; a follower
// forwards its clients' writes to the leader over the peer link and
// answers each when the committed transaction comes back, matching it by
// (session, cxid), as ZooKeeper's CommitProcessor does. Reads never come
// here: each server serves them from its own tree.
//
// One goroutine, the replica's loop, prepares, proposes and applies, so
// the Preparer's contract (one goroutine prepares and applies) holds
// without a lock; Submit only queues, and a batcher hands each queued
// batch to the loop in one call, so a batch becomes one Ready (one fsync,
// one PROPOSAL per follower).
type Ensemble struct {
	cfg  EnsembleConfig
	host Host
	log  *slog.Logger
	rep  *replica.Replica

	in   chan *Request
	stop chan struct{}
	done chan struct{}
	once sync.Once

	roleMu sync.Mutex
	role   Role

	// Owned by the loop goroutine.
	tree          *tree.Tree
	prep          *tree.Preparer // while leading an established epoch
	prepEpoch     zab.Epoch
	st            zab.Status
	initial       zab.Zxid             // the end of the history this leader took over
	lastProposed  zab.Zxid             // the last zxid proposed in this term (initial before any)
	turnProposals int                  // proposals since the last Ready
	pending       map[int64][]*Request // local writes awaiting their commit, per session
	syncs         map[syncKey]*Request // syncs forwarded to the leader
	waiting       []syncWait           // syncs waiting for the tree to reach a zxid
	held          []heldRequest        // taken while the leader catches up on its history
	sinceComp     int                  // entries applied since the last Compact or snapshot
	snapAt        int                  // sinceComp that triggers the next snapshot
	saving        atomic.Bool          // a snapshot is being written
	followers     atomic.Uint64        // leading: followers<<32 | synced, from the core's status
	saver         sync.WaitGroup       // the goroutine writing it
	proposed      []tree.Txn           // the leader's proposals not yet applied, in zxid order
	txns          []tree.Txn           // Apply's buffers
	reqs          []*Request
}

type syncKey struct {
	session int64
	cxid    int32
}

type heldRequest struct {
	r    *Request
	from zab.ID
}

type syncWait struct {
	zxid int64
	req  *Request
}

const (
	compactEveryDefault = 100000
	compactKeepDefault  = 20000
)

// NewEnsemble returns an Ensemble; Start runs it for a host.
func NewEnsemble(cfg EnsembleConfig) *Ensemble {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CompactEvery <= 0 {
		cfg.CompactEvery = compactEveryDefault
	}
	if cfg.CompactKeep <= 0 {
		cfg.CompactKeep = compactKeepDefault
	}
	if cfg.SnapCount <= 0 {
		cfg.SnapCount = 100000
	}
	if cfg.TouchEvery <= 0 {
		cfg.TouchEvery = 500 * time.Millisecond
	}
	return &Ensemble{
		cfg: cfg, log: cfg.Logger,
		in:      make(chan *Request, queueMax),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[int64][]*Request),
		syncs:   make(map[syncKey]*Request),
	}
}

// Start starts the replica (its peer listener) and the batcher. t is the
// host's tree as restored at startup; from now on only the Ensemble's
// loop writes it, through host.Apply and host.Restore.
func (e *Ensemble) Start(host Host, t *tree.Tree) error {
	e.host, e.tree = host, t
	rc := e.cfg.Replica
	rc.SM = (*ensembleSM)(e)
	rc.Zab.Snapshots = (*ensembleSM)(e)
	rc.Forwarded = e.forwarded
	rc.AfterReady = e.afterReady
	rep, err := replica.Start(rc)
	if err != nil {
		return err
	}
	e.rep = rep
	go e.batch()
	return nil
}

// Submit queues a request. It blocks while the queue is full, and fails
// once stopped.
func (e *Ensemble) Submit(r *Request) error {
	select {
	case e.in <- r:
		return nil
	case <-e.stop:
		return ErrStopped
	}
}

// Stop stops the batcher and the replica. Requests still queued are not
// answered: their connections are going away with the server.
func (e *Ensemble) Stop() {
	e.once.Do(func() { close(e.stop) })
	if e.rep == nil {
		return
	}
	<-e.done
	if err := e.rep.Stop(); err != nil {
		e.log.Error("replica stopped with an error", "err", err)
	}
	e.saver.Wait() // the storage closes after Stop
}

// Role is the server's part in the ensemble now.
func (e *Ensemble) Role() Role {
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	return e.role
}

// batch hands queued requests to the loop, a batch per call, and reports
// live sessions to the leader every TouchEvery.
func (e *Ensemble) batch() {
	defer close(e.done)
	touch := time.NewTicker(e.cfg.TouchEvery)
	defer touch.Stop()
	var b []*Request
	var ids []int64
	for {
		select {
		case <-e.stop:
			return
		case <-touch.C:
			_ = e.rep.Exec(func(l *Loop) {
				if e.st.State != zab.Following || !e.st.UpToDate {
					return
				}
				ids = e.host.ActiveSessions(ids[:0])
				if len(ids) > 0 {
					e.sendForward(l, e.st.Leader, appendTouch(nil, ids))
				}
			})
			continue
		case r := <-e.in:
			b = append(b[:0], r)
		}
	fill:
		for len(b) < batchCountMax {
			select {
			case r := <-e.in:
				b = append(b, r)
			default:
				break fill
			}
		}
		if err := e.rep.Exec(func(l *Loop) { e.take(l, b) }); err != nil {
			return // the replica stopped; so is the server
		}
		clear(b)
	}
}

// Loop is the replica's loop handle, under a shorter name here.
type Loop = replica.Loop

func (e *Ensemble) sendForward(l *Loop, to zab.ID, payload []byte) {
	l.Send(zab.Message{Type: zab.MsgForward, To: to, Entries: []zab.Entry{{Data: payload}}})
}

// take handles a batch of local requests on the loop goroutine.
func (e *Ensemble) take(l *Loop, b []*Request) {
	switch {
	case e.st.State == zab.Leading && e.st.Established:
		for _, r := range b {
			e.lead(l, r, 0)
		}
	case e.st.State == zab.Following && e.st.UpToDate:
		// One message for the whole batch: the leader takes it in one
		// turn, and it shares one proposal and one fsync.
		var fwd []zab.Entry
		for _, r := range b {
			if p := e.follow(r); p != nil {
				fwd = append(fwd, zab.Entry{Data: p})
			}
		}
		if len(fwd) > 0 {
			l.Send(zab.Message{Type: zab.MsgForward, To: e.st.Leader, Entries: fwd})
		}
	default:
		for _, r := range b {
			e.fail(r, ErrNotServing)
		}
	}
}

// follow remembers a local request and returns the payload that
// forwards it to the leader (nil: nothing to forward).
func (e *Ensemble) follow(r *Request) []byte {
	if r.Origin == nil {
		return nil // the leader alone expires sessions and reaps nodes
	}
	if r.IsSync() {
		e.syncs[syncKey{r.Session, r.Cxid}] = r
	} else {
		e.pending[r.Session] = append(e.pending[r.Session], r)
	}
	return appendForwardRequest(nil, r)
}

// lead prepares and proposes a request on the leader; from is the
// follower that forwarded it (0 for a local one).
func (e *Ensemble) lead(l *Loop, r *Request, from zab.ID) {
	// Held requests go first: a session's requests keep their order.
	if len(e.held) > 0 || !e.canPrepare() {
		e.held = append(e.held, heldRequest{r, from})
		return
	}
	if r.IsSync() {
		// Everything proposed so far must be applied before the answer.
		if from != 0 {
			e.sendForward(l, from, appendSyncAck(nil, r.Session, r.Cxid, int64(e.lastProposed)))
			return
		}
		e.waitFor(int64(e.lastProposed), r)
		return
	}
	e.prep.Applied(e.tree.LastZxid())
	x := e.prep.Prepare(&r.Request, r.Now)
	z, err := l.Propose(replica.EncodeEntry(&x))
	if err != nil || int64(z) != x.Zxid {
		// The core stops leading (not established, epoch exhausted): the
		// change of role fails what is in flight, this one included.
		e.log.Warn("proposal refused", "err", err, "zxid", z, "prepared", x.Zxid)
		e.prep = nil
		if from == 0 {
			e.fail(r, fmt.Errorf("broadcast: proposal refused: %w", err))
		}
		return
	}
	e.turnProposals++
	e.lastProposed = z
	if from == 0 && r.Origin != nil {
		e.pending[r.Session] = append(e.pending[r.Session], r)
	}
	// Apply takes it from here instead of decoding the entry again.
	e.proposed = append(e.proposed, x)
}

// proposeTurnMax bounds the proposals of one turn of the replica's loop,
// below what the core takes before a Ready (zab's proposalsPendingMax):
// the rest wait in held for the next turn instead of being refused.
const proposeTurnMax = 2048

// canPrepare reports whether the leader may prepare a request now, making
// a Preparer for the epoch if it has none.
func (e *Ensemble) canPrepare() bool {
	if e.turnProposals >= proposeTurnMax || !e.caughtUp() {
		return false
	}
	if e.prep != nil && e.prepEpoch == e.st.Epoch {
		return true
	}
	// A fresh Preparer reads the tree alone, so the tree must reflect
	// everything proposed: the history taken over, and this epoch's own
	// proposals.
	if len(e.proposed) > 0 {
		return false
	}
	e.prep = tree.NewPreparer(e.tree, max(e.tree.LastZxid(), int64(zab.MakeZxid(e.st.Epoch, 0))))
	e.prep.ExtendedTypes = e.cfg.ExtendedTypes
	e.prepEpoch = e.st.Epoch
	return true
}

// caughtUp reports whether the leader's tree holds the whole history it
// took over, so that preparing against it is sound.
func (e *Ensemble) caughtUp() bool {
	return e.tree.LastZxid() >= int64(e.initial)
}

// waitFor answers a sync once the tree has reached zxid.
func (e *Ensemble) waitFor(zxid int64, r *Request) {
	if e.tree.LastZxid() >= zxid {
		e.host.Apply([]tree.Txn{syncTxn(r, zxid)}, []*Request{r}, nil)
		return
	}
	// Targets arrive in order (the leader's proposals); keep it so if not.
	i := len(e.waiting)
	for i > 0 && e.waiting[i-1].zxid > zxid {
		i--
	}
	e.waiting = slices.Insert(e.waiting, i, syncWait{zxid, r})
}

// fail answers r with an error without applying anything.
func (e *Ensemble) fail(r *Request, err error) {
	if r.Origin == nil {
		return
	}
	e.host.Apply([]tree.Txn{{Type: r.Op, Session: r.Session, Cxid: r.Cxid}}, []*Request{r}, err)
}

// forwarded handles a peer's MsgForward on the loop goroutine.
func (e *Ensemble) forwarded(l *Loop, m zab.Message) {
	for _, en := range m.Entries {
		f, err := decodeForward(en.Data)
		if err != nil {
			e.log.Warn("dropping a malformed message from a peer", "peer", m.From, "err", err)
			continue
		}
		switch f.kind {
		case fwdRequest:
			if e.st.State != zab.Leading || !e.st.Established {
				continue // the follower will lose its leader too and drop the client
			}
			f.req.Now = time.Now().UnixMilli()
			e.lead(l, f.req, m.From)
		case fwdSyncAck:
			k := syncKey{f.session, f.cxid}
			if r := e.syncs[k]; r != nil && m.From == e.st.Leader {
				delete(e.syncs, k)
				e.waitFor(f.zxid, r)
			}
		case fwdTouch:
			if e.st.State == zab.Leading {
				e.host.TouchSessions(f.sessions)
			}
		}
	}
}

// afterReady runs after each turn of the replica's loop: it follows the
// core's role, compacts the core's log, answers syncs the tree has
// reached and prepares what waited for the leader to catch up.
func (e *Ensemble) afterReady(l *Loop, s zab.Status) {
	e.turnProposals = 0 // the Readies took every proposal
	old := e.st
	e.st = s
	e.followers.Store(uint64(s.Followers)<<32 | uint64(s.SyncedFollowers))
	if roleOf(old) != roleOf(s) {
		e.changed(old, s)
	}
	e.maybeSnapshot(l, s)
	e.release(l)
}

// Followers reports, while this server leads, how many followers joined
// its epoch and how many of them are synced and heard from within
// syncLimit (zero otherwise). Safe from any goroutine.
func (e *Ensemble) Followers() (joined, synced int) {
	v := e.followers.Load()
	return int(v >> 32), int(uint32(v))
}

// maybeSnapshot takes a snapshot every snapAt applied entries and has it
// written in the background, then the logs compacted up to it; without a
// Snapshotter it only compacts the core's in-memory log.
func (e *Ensemble) maybeSnapshot(l *Loop, s zab.Status) {
	if e.cfg.Snapshots == nil {
		if e.sinceComp >= e.cfg.CompactEvery {
			e.sinceComp = 0
			if z := e.tree.LastZxid() - int64(e.cfg.CompactKeep); z > int64(s.LogStart) {
				if err := l.Compact(zab.Zxid(z)); err != nil {
					e.log.Warn("compacting the in-memory log", "err", err)
				}
			}
		}
		return
	}
	if e.snapAt == 0 {
		e.snapAt = e.cfg.SnapCount/2 + rand.IntN(e.cfg.SnapCount/2+1)
	}
	if e.sinceComp < e.snapAt || e.saving.Load() || e.tree.LastZxid() == 0 {
		return
	}
	// A fuzzy snapshot, as standalone takes: encoded off the loop, a
	// chunk of nodes per hold of the tree's read lock, so the loop's
	// applies go on between chunks. It starts at the zxid the tree held
	// when it began; a restart replays the log after that zxid, and
	// replaying a txn the snapshot already reflects leaves the same
	// tree (engine/doc.go says why).
	t := e.tree
	e.sinceComp, e.snapAt = 0, 0
	e.saving.Store(true)
	e.saver.Add(1)
	go func() {
		defer e.saver.Done()
		defer e.saving.Store(false)
		start := time.Now()
		snap, err := encodeSnapshot(t, e.host.ReadTree, snapshotChunkNodes)
		if err != nil {
			e.log.Error("encoding a snapshot", "err", err)
			return
		}
		encoded := time.Since(start)
		if err := e.cfg.Snapshots.SaveSnapshot(snap); err != nil {
			e.log.Warn("snapshot not saved", "zxid", snap.Zxid, "err", err)
			return
		}
		err = e.rep.Exec(func(l *Loop) {
			if err := l.Compact(snap.Zxid); err != nil {
				e.log.Warn("compacting the in-memory log", "zxid", snap.Zxid, "err", err)
			}
		})
		e.log.Info("snapshot saved", "zxid", snap.Zxid, "bytes", len(snap.Data),
			"encoded", encoded, "took", time.Since(start), "err", err)
	}()
}

// snapshotChunkNodes is how many nodes a snapshot encodes per hold of the
// tree's read lock: short enough that a write waits little behind it.
const snapshotChunkNodes = 1000

// encodeSnapshot encodes t (the tree's snapshot encoding, zstd-compressed)
// taking a chunk of nodes at a time inside readTree; the compression runs
// outside it. The snapshot's zxid is the one t held when it started.
func encodeSnapshot(t *tree.Tree, readTree func(func()), chunkNodes int) (zab.Snapshot, error) {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return zab.Snapshot{}, err
	}
	var sw *tree.SnapshotWriter
	readTree(func() { sw = t.NewSnapshotWriter() })
	if err := sw.WriteAll(zw, readTree, chunkNodes); err != nil {
		_ = zw.Close()
		return zab.Snapshot{}, err
	}
	if err := zw.Close(); err != nil {
		return zab.Snapshot{}, err
	}
	return zab.Snapshot{Zxid: zab.Zxid(sw.StartZxid()), Data: buf.Bytes()}, nil
}

// roleKey is what a change of role is judged by.
type roleKey struct {
	state                 zab.State
	leader                zab.ID
	epoch                 zab.Epoch
	established, upToDate bool
}

func roleOf(s zab.Status) roleKey {
	return roleKey{s.State, s.Leader, s.Epoch, s.Established, s.UpToDate}
}

// changed follows a change of the core's role.
func (e *Ensemble) changed(old, s zab.Status) {
	role := Role{
		Serving:  s.State == zab.Leading && s.Established || s.State == zab.Following && s.UpToDate,
		Leader:   s.State == zab.Leading,
		LeaderID: uint64(s.Leader),
		Epoch:    uint32(s.HardState.CurrentEpoch),
	}
	if s.State == zab.Leading {
		role.Epoch = uint32(s.Epoch)
	}
	sameTerm := role.Serving && old.Leader == s.Leader && old.State == s.State &&
		(old.State != zab.Leading || old.Epoch == s.Epoch && old.Established)
	if !sameTerm {
		// What was in flight may or may not commit under the next leader;
		// its clients are dropped and will learn on reconnecting.
		e.dropInFlight()
	}
	if s.State == zab.Leading && s.Established && !(old.State == zab.Leading && old.Established && old.Epoch == s.Epoch) {
		e.initial, e.lastProposed = s.LastZxid, s.LastZxid
		e.prep = nil
		e.host.TouchSessions(nil)
	}
	e.roleMu.Lock()
	e.role = role
	e.roleMu.Unlock()
	e.log.Info("ensemble role", "mode", role.Mode(), "leader", s.Leader, "epoch", role.Epoch, "lastZxid", s.LastZxid)
	e.host.RoleChanged(role)
}

// dropInFlight forgets every local request waiting on the ensemble.
func (e *Ensemble) dropInFlight() {
	for _, q := range e.pending {
		for _, r := range q {
			e.fail(r, ErrNotServing)
		}
	}
	clear(e.pending)
	for _, r := range e.syncs {
		e.fail(r, ErrNotServing)
	}
	clear(e.syncs)
	for _, w := range e.waiting {
		e.fail(w.req, ErrNotServing)
	}
	e.waiting = nil
	for _, h := range e.held {
		e.fail(h.r, ErrNotServing)
	}
	e.held = nil
	e.prep = nil
	clear(e.proposed)
	e.proposed = e.proposed[:0]
}

// release answers syncs the tree has reached and prepares requests held
// while the leader caught up.
func (e *Ensemble) release(l *Loop) {
	last := e.tree.LastZxid()
	n := 0
	for n < len(e.waiting) && e.waiting[n].zxid <= last {
		w := e.waiting[n]
		e.host.Apply([]tree.Txn{syncTxn(w.req, w.zxid)}, []*Request{w.req}, nil)
		n++
	}
	if n > 0 {
		e.waiting = append(e.waiting[:0], e.waiting[n:]...)
	}
	if len(e.held) > 0 && e.st.State == zab.Leading && e.st.Established && e.caughtUp() {
		held := e.held
		e.held = nil
		for _, h := range held {
			e.lead(l, h.r, h.from)
		}
	}
}

// ensembleSM is the Ensemble as the replica's StateMachine and the core's
// SnapshotSource, on the loop goroutine.
type ensembleSM Ensemble

// Apply applies committed entries, answering the local requests among
// them.
func (sm *ensembleSM) Apply(entries []zab.Entry) {
	e := (*Ensemble)(sm)
	e.txns, e.reqs = e.txns[:0], e.reqs[:0]
	taken, answered := 0, 0
	for _, en := range entries {
		// A sync is answered right after the txn it waits for, before the
		// txns after it: a session's later writes may be in this batch.
		for answered < len(e.waiting) && e.waiting[answered].zxid < int64(en.Zxid) {
			w := e.waiting[answered]
			e.txns = append(e.txns, syncTxn(w.req, w.zxid))
			e.reqs = append(e.reqs, w.req)
			answered++
		}
		var x tree.Txn
		for taken < len(e.proposed) && e.proposed[taken].Zxid < int64(en.Zxid) {
			taken++ // not committed in this epoch: the next leader's business
		}
		if taken < len(e.proposed) && e.proposed[taken].Zxid == int64(en.Zxid) {
			x = e.proposed[taken]
			taken++
		} else {
			var err error
			if x, err = replica.DecodeEntry(en); err != nil {
				// Every server logged it; applying something else would
				// fork the trees. Nothing can be done but stop.
				panic(fmt.Sprintf("broadcast: committed entry %v does not decode: %v", en.Zxid, err))
			}
		}
		var req *Request
		if q := e.pending[x.Session]; len(q) > 0 && q[0].Cxid == x.Cxid {
			req = q[0]
			q[0] = nil
			if len(q) == 1 {
				delete(e.pending, x.Session)
			} else {
				e.pending[x.Session] = q[1:]
			}
		}
		e.txns = append(e.txns, x)
		e.reqs = append(e.reqs, req)
	}
	if len(entries) > 0 {
		last := int64(entries[len(entries)-1].Zxid)
		for answered < len(e.waiting) && e.waiting[answered].zxid <= last {
			w := e.waiting[answered]
			e.txns = append(e.txns, syncTxn(w.req, w.zxid))
			e.reqs = append(e.reqs, w.req)
			answered++
		}
	}
	n := copy(e.waiting, e.waiting[answered:])
	clear(e.waiting[n:])
	e.waiting = e.waiting[:n]
	e.host.Apply(e.txns, e.reqs, nil)
	clear(e.reqs)
	if c, ok := e.tree.TakeDigestCheck(); ok && !c.Pending() {
		// The snapshot this tree was restored or installed from, checked
		// now that the entries after it reached its end (tree.DigestCheck).
		e.log.Log(context.Background(), c.Level(), c.String())
	}
	n = copy(e.proposed, e.proposed[taken:])
	clear(e.proposed[n:])
	e.proposed = e.proposed[:n]
	if e.prep != nil {
		e.prep.Applied(e.tree.LastZxid())
	}
	e.sinceComp += len(entries)
}

// Restore installs a leader's snapshot (SNAP) in place of the tree.
func (sm *ensembleSM) Restore(s zab.Snapshot) error {
	e := (*Ensemble)(sm)
	t, err := DecodeSnapshot(s)
	if err != nil {
		return err
	}
	e.tree, e.prep = t, nil
	e.host.Restore(t)
	e.log.Info("installed the leader's snapshot", "zxid", s.Zxid, "bytes", len(s.Data), "znodes", t.NodeCount())
	return nil
}

// snapshotWindowBytesMax bounds the zstd window a snapshot may ask for.
const snapshotWindowBytesMax = 64 << 20

// DecodeSnapshot rebuilds the tree an ensemble snapshot holds: the
// tree's snapshot encoding (tree.SnapshotWriter), compressed with zstd.
func DecodeSnapshot(s zab.Snapshot) (*tree.Tree, error) {
	// A damaged frame header must not make the decoder allocate gigabytes:
	// the encoder's window is at most 8 MB.
	zr, err := zstd.NewReader(bytes.NewReader(s.Data),
		zstd.WithDecoderMaxWindow(snapshotWindowBytesMax), zstd.WithDecoderMaxMemory(snapshotWindowBytesMax))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	t, last, err := tree.RestoreSnapshot(zr)
	if err != nil {
		return nil, fmt.Errorf("broadcast: snapshot at %v: %w", s.Zxid, err)
	}
	if last != int64(s.Zxid) || t.LastZxid() != last {
		return nil, fmt.Errorf("broadcast: snapshot at %v starts at zxid %#x", s.Zxid, last)
	}
	return t, nil
}

// Snapshot is the leader's SNAP for a follower behind the core's log
// start. The newest snapshot the Snapshotter keeps does, when it is a
// SnapshotSource (replica.EngineStorage): the core's log start is the
// zxid of a kept snapshot (it is compacted only once one is saved), and
// the follower replays the entries after it as a restart does. Otherwise
// (no snapshot kept yet, or none at or after the log start) the tree is
// encoded as it stands: the loop goroutine is its only writer, so it
// holds still meanwhile (no lock, one chunk), but the loop waits.
func (sm *ensembleSM) Snapshot() (zab.Snapshot, error) {
	e := (*Ensemble)(sm)
	if src, ok := e.cfg.Snapshots.(zab.SnapshotSource); ok {
		s, err := src.Snapshot()
		if err == nil && s.Zxid >= e.st.LogStart && int64(s.Zxid) <= e.tree.LastZxid() {
			return s, nil
		}
		if err != nil && !errors.Is(err, replica.ErrNoSnapshot) {
			e.log.Warn("reading the newest snapshot for a SNAP; encoding the tree instead", "err", err)
		}
	}
	return encodeSnapshot(e.tree, func(f func()) { f() }, math.MaxInt)
}
