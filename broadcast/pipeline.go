package broadcast

import (
	"errors"
	"sync"
	"sync/atomic"

	"zkd/netio/jute"
	"zkd/tree"
)

// Log makes batches of transactions durable, in order. Append returns once
// every transaction of the batch is durable (or an error, and then none of
// the batch may be acknowledged).
type Log interface {
	Append(txns []tree.Txn) error
}

// PipelinedLog is a Log that takes the next batch while the previous one
// is still being made durable, so that the pipeline can prepare batch k+1
// during batch k's fsync. Batches become durable in EnqueueFenced order.
// gen is Generation() as the caller last saw it: a batch enqueued after
// one that failed fails too (the log is fenced), because it was prepared
// assuming the failed one. Generation counts the failed batches. The log
// reads txns until Wait returns.
type PipelinedLog interface {
	Log
	EnqueueFenced(txns []tree.Txn, gen uint64) interface{ Wait() error }
	Generation() uint64
}

// StateMachine applies committed transactions. reqs[i] is the request that
// produced txns[i] (nil for none); Apply answers the clients of local
// requests. err is non-nil when the batch could not be committed: nothing
// is applied and every request is answered with an error.
type StateMachine interface {
	Apply(txns []tree.Txn, reqs []*Request, err error)
}

// Request is one write (or sync) submitted to the pipeline.
type Request struct {
	tree.Request
	// Origin is the submitter's handle for the reply; the pipeline does not
	// look at it.
	Origin any
	// Xid is the client's xid, echoed in the reply.
	Xid int32
	// Now is the leader's clock in ms when the request arrived.
	Now int64
}

// IsSync reports whether the request is a sync barrier (no transaction).
func (r *Request) IsSync() bool { return r.Op == jute.OpSync }

const (
	batchCountMax = 1024
	batchBytesMax = 4 << 20
	queueMax      = 16384
	// inflightMax bounds the batches prepared but not yet applied: enough
	// to keep the log's writer fed while one group syncs, few enough that
	// a failure discards little work.
	inflightMax = 8
)

// ErrStopped is returned by Submit once the pipeline has stopped.
var ErrStopped = errors.New("broadcast: pipeline stopped")

// batch is one prepared unit on its way through the log to the state
// machine. Batches are recycled through Pipeline.free.
type batch struct {
	txns    []tree.Txn
	reqs    []*Request
	pending interface{ Wait() error }
	last    int64 // zxid of the batch's last txn (a sync's is the one before it)
}

// Pipeline is the standalone leader's prepare → commit → apply pipeline.
// Two goroutines: Run prepares batches and enqueues them on the log; the
// applier waits for each batch to be durable and applies it, in order.
// While one batch syncs, the next is prepared and enqueued, so the log's
// writer can commit it with the next sync.
type Pipeline struct {
	prep     *tree.Preparer
	log      PipelinedLog
	sm       StateMachine
	readLock sync.Locker // held while preparing: the applier writes the tree meanwhile

	in   chan *Request
	stop chan struct{}
	done chan struct{}
	once sync.Once

	free     chan *batch // batches not in flight; all inflightMax of them when idle
	inflight chan *batch // prepared and enqueued, in order, to the applier

	gen     uint64       // log generation the prepared batches assume (Run only)
	applied atomic.Int64 // zxid of the last txn applied
	failed  atomic.Bool  // a batch failed; Run must resynchronise before the next
}

// NewPipeline returns a pipeline; Run starts it. readLock is the read side
// of the lock the StateMachine holds while it writes the tree: prepare
// reads the tree while the applier may be applying an earlier batch.
func NewPipeline(prep *tree.Preparer, log Log, sm StateMachine, readLock sync.Locker) *Pipeline {
	pl, ok := log.(PipelinedLog)
	if !ok {
		pl = &syncLog{log: log}
	}
	p := &Pipeline{
		prep: prep, log: pl, sm: sm, readLock: readLock,
		in:       make(chan *Request, queueMax),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		free:     make(chan *batch, inflightMax),
		inflight: make(chan *batch, inflightMax),
		gen:      pl.Generation(),
	}
	p.applied.Store(prep.LastZxid())
	for range inflightMax {
		p.free <- &batch{}
	}
	return p
}

// Submit queues a request. It blocks while the queue is full (back
// pressure on the submitting event loop), and fails once stopped.
func (p *Pipeline) Submit(r *Request) error {
	select {
	case <-p.stop:
		return ErrStopped
	default:
	}
	select {
	case p.in <- r:
		return nil
	case <-p.stop:
		return ErrStopped
	}
}

// Stop ends Run after the batches in flight are applied, and waits.
func (p *Pipeline) Stop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// Run prepares batches until Stop; it starts the applier and waits for it.
func (p *Pipeline) Run() {
	applierDone := make(chan struct{})
	go func() {
		defer close(applierDone)
		p.applyLoop()
	}()
	defer func() {
		close(p.inflight)
		<-applierDone
		close(p.done)
	}()
	for {
		var first *Request
		select {
		case first = <-p.in:
		case <-p.stop:
			return
		}
		var b *batch
		select {
		case b = <-p.free:
		case <-p.stop:
			// Not prepared, not answered: the server is going away and
			// its connections with it.
			return
		}
		if p.failed.Load() {
			p.resync()
		}
		p.prepareBatch(b, first)
		b.pending = p.log.EnqueueFenced(b.txns, p.gen)
		p.inflight <- b
	}
}

// resync runs after a batch failed, while Run holds one free batch: it
// waits until every other batch is back, so that all in flight have been
// answered (they fail, fenced behind the failed one), then forgets what
// prepare assumed of them and adopts the log's new generation. Zxids of
// the failed batches are reused.
func (p *Pipeline) resync() {
	others := make([]*batch, 0, inflightMax-1)
	for len(others) < inflightMax-1 {
		others = append(others, <-p.free)
	}
	p.failed.Store(false)
	p.prep.Discard(p.applied.Load())
	p.gen = p.log.Generation()
	for _, b := range others {
		p.free <- b
	}
}

func (p *Pipeline) prepareBatch(b *batch, first *Request) {
	b.txns, b.reqs = b.txns[:0], b.reqs[:0]
	p.readLock.Lock()
	defer p.readLock.Unlock()
	// Forget overlay entries the tree now reflects.
	p.prep.Applied(p.applied.Load())
	bytes := 0
	p.add(b, first, &bytes)
	for len(b.reqs) < batchCountMax && bytes < batchBytesMax {
		select {
		case r := <-p.in:
			p.add(b, r, &bytes)
			continue
		default:
		}
		break
	}
	b.last = p.prep.LastZxid()
}

func (p *Pipeline) add(b *batch, r *Request, bytes *int) {
	var x tree.Txn
	if r.IsSync() {
		x = tree.Txn{Type: jute.OpSync, Zxid: p.prep.LastZxid(), Session: r.Session, Cxid: r.Cxid}
	} else {
		x = p.prep.Prepare(&r.Request, r.Now)
	}
	*bytes += len(x.Data) + len(x.Path) + 64
	b.txns = append(b.txns, x)
	b.reqs = append(b.reqs, r)
}

// applyLoop applies batches in the order Run enqueued them, once durable.
func (p *Pipeline) applyLoop() {
	for b := range p.inflight {
		err := b.pending.Wait()
		if err == nil && p.failed.Load() {
			// Only a batch without changes (syncs) can pass the fence;
			// answer it like its neighbours.
			err = ErrFenced
		}
		if err != nil {
			// Before the answers go out: a client that retries on the
			// error must find Run resyncing, not preparing its retry
			// behind the fence again.
			p.failed.Store(true)
		}
		p.sm.Apply(b.txns, b.reqs, err)
		if err == nil {
			p.applied.Store(max(p.applied.Load(), b.last))
		}
		b.pending = nil
		clear(b.reqs) // drop references to answered requests
		p.free <- b
	}
}

// ErrFenced answers requests of a batch prepared behind one that failed.
var ErrFenced = errors.New("broadcast: an earlier batch failed to commit")

// syncLog makes a plain Log a PipelinedLog: each batch is appended before
// EnqueueFenced returns, and a failed one ends the generation.
type syncLog struct {
	log Log
	gen uint64 // only Run's goroutine calls EnqueueFenced and Generation
}

type doneWait struct{ err error }

func (d doneWait) Wait() error { return d.err }

func (s *syncLog) Append(txns []tree.Txn) error { return s.log.Append(txns) }

func (s *syncLog) EnqueueFenced(txns []tree.Txn, gen uint64) interface{ Wait() error } {
	if gen != s.gen {
		return doneWait{ErrFenced}
	}
	err := s.log.Append(txns)
	if err != nil {
		s.gen++
	}
	return doneWait{err}
}

func (s *syncLog) Generation() uint64 { return s.gen }

// MemLog is an in-memory Log: the standalone commit step until the durable
// engine plugs in behind the same interface.
type MemLog struct {
	mu   sync.Mutex
	txns []tree.Txn
	// Max bounds the records kept (oldest dropped); 0 keeps none.
	Max int
}

// Append records the batch (no durability).
func (l *MemLog) Append(txns []tree.Txn) error {
	if l.Max == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range txns {
		if x.Type != jute.OpSync {
			l.txns = append(l.txns, x)
		}
	}
	if over := len(l.txns) - l.Max; over > 0 {
		l.txns = append(l.txns[:0], l.txns[over:]...)
	}
	return nil
}

// Txns returns a copy of the kept records.
func (l *MemLog) Txns() []tree.Txn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tree.Txn(nil), l.txns...)
}
