package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"zkd/broadcast/peer"
	"zkd/broadcast/zab"
)

// Storage makes what a zab.Ready asks durable. Persist is called from the
// replica's loop goroutine only, one Ready at a time, and must return only
// once everything in it is durable: the snapshot (which replaces the whole
// log), the truncation, the entries, then the hard state, in that order
// (a crash in between must leave a prefix of that order).
type Storage interface {
	Persist(rd *zab.Ready) error
}

// StateMachine receives what the ensemble committed, from the replica's
// loop goroutine, in zxid order, each entry once per replica incarnation.
type StateMachine interface {
	// Restore replaces the state with a snapshot (a leader's SNAP).
	Restore(s zab.Snapshot) error
	// Apply applies committed entries.
	Apply(entries []zab.Entry)
}

// Config starts a Replica.
type Config struct {
	// Zab configures the core; restart state (HardState, LogStart,
	// Entries, Applied) comes from what Storage persisted.
	Zab zab.Config
	// Peer configures the transport; Peer.ID must equal Zab.ID.
	Peer peer.Config
	// Tick is the duration of one core tick (ZooKeeper's tickTime, or a
	// fraction of it: the core counts its timeouts in ticks).
	Tick    time.Duration
	Storage Storage
	SM      StateMachine
	Logger  *slog.Logger
	// Forwarded, when set, receives the MsgForward messages (the driver's
	// own traffic, which the core does not use) on the loop goroutine.
	Forwarded func(l *Loop, m zab.Message)
	// AfterReady, when set, is called on the loop goroutine after the
	// Readies of each loop turn, with the core's status; what it proposes
	// is handled at once.
	AfterReady func(l *Loop, s zab.Status)
}

// Loop is what a function run on the loop goroutine (Exec, Forwarded,
// AfterReady) may do with the core. It is valid only during that call.
type Loop struct{ r *Replica }

// Status returns the core's status.
func (l *Loop) Status() zab.Status { return l.r.node.Status() }

// Propose offers data as the next entry (see Replica.Propose).
func (l *Loop) Propose(data []byte) (zab.Zxid, error) { return l.r.node.Propose(data) }

// Compact lets the core drop its log up to z (see zab.Node.Compact).
func (l *Loop) Compact(z zab.Zxid) error { return l.r.node.Compact(z) }

// Send queues m (From is set here) on the link to m.To.
func (l *Loop) Send(m zab.Message) {
	m.From = l.r.cfg.Zab.ID
	l.r.transport.Send(m)
}

// ErrStopped answers calls made after Stop.
var ErrStopped = errors.New("replica: stopped")

// Replica runs one server's Zab core with real time, sockets and storage.
type Replica struct {
	cfg       Config
	node      *zab.Node
	transport *peer.Transport
	log       *slog.Logger

	calls chan func()
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error // the loop's fatal error, set before done closes
}

// Start creates the core and the transport and runs the loop.
func Start(cfg Config) (*Replica, error) {
	if cfg.Tick <= 0 || cfg.Storage == nil || cfg.SM == nil {
		return nil, fmt.Errorf("replica: Tick, Storage and SM are required")
	}
	if cfg.Peer.ID != cfg.Zab.ID {
		return nil, fmt.Errorf("replica: peer id %v is not zab id %v", cfg.Peer.ID, cfg.Zab.ID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	node, err := zab.NewNode(cfg.Zab)
	if err != nil {
		return nil, err
	}
	tr, err := peer.New(cfg.Peer.WithDefaults())
	if err != nil {
		return nil, err
	}
	if err := tr.Start(); err != nil {
		return nil, err
	}
	r := &Replica{
		cfg: cfg, node: node, transport: tr, log: cfg.Logger.With("server", cfg.Zab.ID),
		calls: make(chan func()), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.loop()
	return r, nil
}

// loop is the only goroutine that touches the core.
func (r *Replica) loop() {
	defer close(r.done)
	defer r.transport.Stop()
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	recv := r.transport.Recv()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.node.Tick()
		case m, ok := <-recv:
			if !r.received(m, ok) {
				return
			}
		case f := <-r.calls:
			f()
		}
		// Take whatever else is waiting before handling the Ready, so that
		// one Ready (one fsync) covers every message and call that arrived
		// during the last one: under load the ACKs, forwarded requests and
		// proposals of many clients share a group commit.
	drain:
		for range drainMax {
			select {
			case m, ok := <-recv:
				if !r.received(m, ok) {
					return
				}
			case f := <-r.calls:
				f()
			default:
				break drain
			}
		}
		if err := r.afterTurn(); err != nil {
			r.err = err
			r.log.Error("replica stopped", "err", err)
			return
		}
	}
}

// drainMax bounds the messages and calls taken into one turn.
const drainMax = 1024

// received steps m; ok false (the transport closed its channel) ends the
// loop with an error, and received reports false.
func (r *Replica) received(m zab.Message, ok bool) bool {
	if !ok {
		r.err = errors.New("replica: transport closed")
		return false
	}
	r.step(m)
	return true
}

// step hands a peer message to the core, or a MsgForward to Forwarded.
func (r *Replica) step(m zab.Message) {
	if m.Type == zab.MsgForward {
		if r.cfg.Forwarded != nil {
			r.cfg.Forwarded(&Loop{r}, m)
		}
		return
	}
	// Out-of-context messages are the core's to drop; an error here is a
	// message it could not use, not a failure.
	_ = r.node.Step(m)
}

// afterTurnMax bounds the rounds of Ready and AfterReady in one turn; the
// next turn (a tick at the latest) picks up what is left.
const afterTurnMax = 8

// afterTurn handles the core's Readies and runs AfterReady, again while
// AfterReady's calls make a new Ready.
func (r *Replica) afterTurn() error {
	for range afterTurnMax {
		if err := r.handleReady(); err != nil {
			return err
		}
		if r.cfg.AfterReady == nil {
			return nil
		}
		r.cfg.AfterReady(&Loop{r}, r.node.Status())
		if !r.node.HasReady() {
			return nil
		}
	}
	return nil
}

// handleReady runs the driver's side of the core's contract for every
// Ready the core has.
func (r *Replica) handleReady() error {
	for r.node.HasReady() {
		rd := r.node.Ready()
		for _, m := range rd.Messages {
			r.transport.Send(m)
		}
		if err := r.cfg.Storage.Persist(&rd); err != nil {
			// Nothing of this Ready may be acknowledged or applied: the
			// core cannot be told to forget it, so the replica stops.
			return fmt.Errorf("replica: persist: %w", err)
		}
		for _, m := range rd.MessagesAfterPersist {
			r.transport.Send(m)
		}
		if rd.Snapshot != nil {
			if err := r.cfg.SM.Restore(*rd.Snapshot); err != nil {
				return fmt.Errorf("replica: restore: %w", err)
			}
		}
		if len(rd.Committed) > 0 {
			r.cfg.SM.Apply(rd.Committed)
		}
		r.node.Advance()
	}
	return nil
}

// call runs f on the loop goroutine and waits for it.
func (r *Replica) call(f func()) error {
	ran := make(chan struct{})
	select {
	case r.calls <- func() { f(); close(ran) }:
	case <-r.done:
		return ErrStopped
	}
	select {
	case <-ran:
		return nil
	case <-r.done:
		return ErrStopped
	}
}

// Propose offers data as the next entry; it fails unless this replica is
// the established leader. The entry is committed when a quorum has it on
// disk, and then reaches every replica's StateMachine.
func (r *Replica) Propose(data []byte) (z zab.Zxid, err error) {
	if cerr := r.call(func() { z, err = r.node.Propose(data) }); cerr != nil {
		return 0, cerr
	}
	return z, err
}

// ProposeWith is Propose for data that must carry its own zxid (a
// transaction's stat fields do): build is called on the loop goroutine
// with the zxid the entry will get, and its result is proposed under it.
// build must not call the Replica.
func (r *Replica) ProposeWith(build func(zab.Zxid) []byte) (z zab.Zxid, err error) {
	cerr := r.call(func() {
		st := r.node.Status()
		if st.State != zab.Leading || !st.Established {
			err = zab.ErrNotLeader
			return
		}
		next := zab.MakeZxid(st.Epoch, 1)
		if st.LastZxid.Epoch() == st.Epoch {
			next = st.LastZxid + 1
		}
		if z, err = r.node.Propose(build(next)); err == nil && z != next {
			panic(fmt.Sprintf("replica: core assigned %v, expected %v", z, next))
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	return z, err
}

// Exec runs f on the loop goroutine and waits for it; the Ready that f's
// calls produce is handled after f returns.
func (r *Replica) Exec(f func(l *Loop)) error {
	return r.call(func() { f(&Loop{r}) })
}

// Status returns the core's status.
func (r *Replica) Status() (s zab.Status, err error) {
	err = r.call(func() { s = r.node.Status() })
	return s, err
}

// Stop ends the loop and closes the transport; it returns the loop's
// fatal error, if it had one.
func (r *Replica) Stop() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return r.err
}
