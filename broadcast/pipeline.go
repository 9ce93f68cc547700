package broadcast

import (
	"errors"
	"sync"

	"zkd/netio/jute"
	"zkd/tree"
)

// Log makes batches of transactions durable, in order. Append returns once
// every transaction of the batch is durable (or an error, and then none of
// the batch may be acknowledged).
type Log interface {
	Append(txns []tree.Txn) error
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
)

// ErrStopped is returned by Submit once the pipeline has stopped.
var ErrStopped = errors.New("broadcast: pipeline stopped")

// Pipeline is the standalone leader's prepare → commit → apply loop.
type Pipeline struct {
	prep *tree.Preparer
	log  Log
	sm   StateMachine

	in   chan *Request
	stop chan struct{}
	done chan struct{}
	once sync.Once

	txns []tree.Txn
	reqs []*Request

	appliedZxid int64 // zxid of the last txn applied
}

// NewPipeline returns a pipeline; Run starts it.
func NewPipeline(prep *tree.Preparer, log Log, sm StateMachine) *Pipeline {
	return &Pipeline{
		prep: prep, log: log, sm: sm, appliedZxid: prep.LastZxid(),
		in:   make(chan *Request, queueMax),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
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

// Stop ends Run after the batch in progress and waits for it.
func (p *Pipeline) Stop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// Run processes batches until Stop.
func (p *Pipeline) Run() {
	defer close(p.done)
	for {
		var first *Request
		select {
		case first = <-p.in:
		case <-p.stop:
			return
		}
		p.runBatch(first)
	}
}

func (p *Pipeline) runBatch(first *Request) {
	p.txns, p.reqs = p.txns[:0], p.reqs[:0]
	bytes := 0
	p.add(first, &bytes)
	for len(p.reqs) < batchCountMax && bytes < batchBytesMax {
		select {
		case r := <-p.in:
			p.add(r, &bytes)
			continue
		default:
		}
		break
	}
	err := p.log.Append(p.txns)
	p.sm.Apply(p.txns, p.reqs, err)
	if err != nil {
		// Nothing of the batch reached the tree: forget what prepare
		// assumed of it and reuse its zxids.
		p.prep.Discard(p.appliedZxid)
		return
	}
	if n := len(p.txns); n > 0 {
		p.appliedZxid = max(p.appliedZxid, p.txns[n-1].Zxid)
		p.prep.Applied(p.txns[n-1].Zxid)
	}
}

func (p *Pipeline) add(r *Request, bytes *int) {
	var x tree.Txn
	if r.IsSync() {
		x = tree.Txn{Type: jute.OpSync, Zxid: p.prep.LastZxid(), Session: r.Session, Cxid: r.Cxid}
	} else {
		x = p.prep.Prepare(&r.Request, r.Now)
	}
	*bytes += len(x.Data) + len(x.Path) + 64
	p.txns = append(p.txns, x)
	p.reqs = append(p.reqs, r)
}

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
