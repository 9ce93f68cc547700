package broadcast

import (
	"errors"
	"sync"
	"testing"
	"time"

	"zkd/netio/jute"
	"zkd/tree"
)

// gateLog blocks each Append until released, records batch sizes, and
// fails the batches it is told to.
type gateLog struct {
	mu      sync.Mutex
	batches [][]tree.Txn
	gate    chan struct{}
	entered chan struct{} // signalled when an Append starts waiting on gate
	failOn  map[int]bool  // batch index → fail
}

func (l *gateLog) Append(txns []tree.Txn) error {
	if l.gate != nil {
		l.entered <- struct{}{}
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.batches)
	l.batches = append(l.batches, append([]tree.Txn(nil), txns...))
	if l.failOn[i] {
		return errors.New("injected log failure")
	}
	return nil
}

// treeSM applies to a tree and records what each request got.
type treeSM struct {
	t       *tree.Tree
	treeMu  sync.RWMutex // written under by Apply, read under by prepare
	mu      sync.Mutex
	results map[int32]tree.Result
	done    chan int32
}

func (s *treeSM) Apply(txns []tree.Txn, reqs []*Request, err error) {
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range txns {
		var res tree.Result
		if err != nil {
			res = tree.Result{Err: jute.ErrSystemError}
		} else {
			res, _ = s.t.Apply(&txns[i], nil)
		}
		s.results[reqs[i].Xid] = res
		s.done <- reqs[i].Xid
	}
}

func newTestPipeline(log Log) (*Pipeline, *treeSM) {
	t := tree.New()
	sm := &treeSM{t: t, results: map[int32]tree.Result{}, done: make(chan int32, 1000)}
	p := NewPipeline(tree.NewPreparer(t, 0), log, sm, sm.treeMu.RLocker())
	go p.Run()
	return p, sm
}

func create(xid int32, path string) *Request {
	return &Request{
		Request: tree.Request{Session: 1, Cxid: xid, Op: jute.OpCreate, Auth: nil,
			Create: &jute.CreateRequest{Path: path, Data: []byte("x"), ACL: tree.OpenACLUnsafe}},
		Xid: xid, Now: 1,
	}
}

func wait(t *testing.T, sm *treeSM, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-sm.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d replies", i, n)
		}
	}
}

// TestGroupCommit: requests that arrive while a batch is being made durable
// share the next Append.
func TestGroupCommit(t *testing.T) {
	log := &gateLog{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	p, sm := newTestPipeline(log)
	defer p.Stop()
	if err := p.Submit(create(1, "/first")); err != nil {
		t.Fatal(err)
	}
	// Once the pipeline is inside Append with /first, queue 50 more.
	select {
	case <-log.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("pipeline never reached Append")
	}
	for i := int32(2); i <= 51; i++ {
		if err := p.Submit(create(i, "/n"+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	close(log.gate)
	wait(t, sm, 51)
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.batches) != 2 || len(log.batches[0]) != 1 || len(log.batches[1]) != 50 {
		sizes := []int{}
		for _, b := range log.batches {
			sizes = append(sizes, len(b))
		}
		t.Fatalf("batches %v, want [1 50]", sizes)
	}
	// zxids are consecutive across batches.
	z := log.batches[0][0].Zxid
	for _, b := range log.batches {
		for _, x := range b {
			if x.Zxid != z {
				t.Fatalf("zxid %d, want %d", x.Zxid, z)
			}
			z++
		}
	}
}

// TestFailedCommitIsForgotten: a batch whose Append fails is answered with
// an error, never reaches the tree, and prepare no longer assumes it.
func TestFailedCommitIsForgotten(t *testing.T) {
	log := &gateLog{failOn: map[int]bool{0: true}}
	p, sm := newTestPipeline(log)
	defer p.Stop()
	if err := p.Submit(create(1, "/a")); err != nil {
		t.Fatal(err)
	}
	wait(t, sm, 1)
	if got := sm.results[1].Err; got != jute.ErrSystemError {
		t.Fatalf("failed commit answered %v", got)
	}
	if _, ok := sm.t.Get("/a"); ok {
		t.Fatal("/a reached the tree although its commit failed")
	}
	if err := p.Submit(create(2, "/a")); err != nil {
		t.Fatal(err)
	}
	wait(t, sm, 1)
	if got := sm.results[2].Err; got != jute.ErrOK {
		t.Fatalf("create after a failed commit: %v (prepare still assumed the failed create)", got)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if a, b := log.batches[0][0].Zxid, log.batches[1][0].Zxid; a != b {
		t.Fatalf("the failed batch's zxid %d was not reused (next %d)", a, b)
	}
}

// TestSyncIsABarrier: a sync takes no zxid and is answered after the
// writes submitted before it.
func TestSyncIsABarrier(t *testing.T) {
	p, sm := newTestPipeline(&gateLog{})
	defer p.Stop()
	_ = p.Submit(create(1, "/s"))
	_ = p.Submit(&Request{Request: tree.Request{Session: 1, Op: jute.OpSync}, Xid: 2})
	var order []int32
	for i := 0; i < 2; i++ {
		select {
		case x := <-sm.done:
			order = append(order, x)
		case <-time.After(5 * time.Second):
			t.Fatal("timeout")
		}
	}
	if order[0] != 1 || order[1] != 2 {
		t.Fatalf("reply order %v", order)
	}
	if sm.t.LastZxid() != 1 {
		t.Fatalf("sync consumed a zxid: last %d", sm.t.LastZxid())
	}
}

func TestSubmitAfterStop(t *testing.T) {
	p, _ := newTestPipeline(&gateLog{})
	p.Stop()
	if err := p.Submit(create(1, "/x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Submit after Stop: %v", err)
	}
}

// fenceLog is a PipelinedLog whose batches become durable (or fail) only
// when the test releases them, in order, with the engine's fencing rule.
type fenceLog struct {
	mu       sync.Mutex
	gen      uint64
	pending  []*fencePending
	durable  []tree.Txn
	enqueued chan struct{}
}

type fencePending struct {
	l    *fenceLog
	txns []tree.Txn
	gen  uint64
	done chan error
}

func (p *fencePending) Wait() error { return <-p.done }

func (l *fenceLog) Append(txns []tree.Txn) error { panic("pipeline must enqueue") }

func (l *fenceLog) EnqueueFenced(txns []tree.Txn, gen uint64) interface{ Wait() error } {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &fencePending{l: l, txns: append([]tree.Txn(nil), txns...), gen: gen, done: make(chan error, 1)}
	l.pending = append(l.pending, p)
	l.enqueued <- struct{}{}
	return p
}

func (l *fenceLog) Generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// release settles the i-th enqueued batch: fenced if prepared against an
// older generation, else failed (ending the generation) or durable.
func (l *fenceLog) release(i int, fail bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending[i]
	var err error
	switch {
	case p.gen != l.gen:
		err = errors.New("fenced")
	case fail:
		l.gen++
		err = errors.New("injected log failure")
	default:
		l.durable = append(l.durable, p.txns...)
	}
	p.done <- err
	return err
}

func waitEnqueued(t *testing.T, l *fenceLog, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-l.enqueued:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d batches enqueued", i, n)
		}
	}
}

// TestPreparesWhileSyncing: the next batch is prepared and enqueued while
// the previous one is still being made durable, assuming it commits.
func TestPreparesWhileSyncing(t *testing.T) {
	log := &fenceLog{enqueued: make(chan struct{}, 16)}
	p, sm := newTestPipeline(log)
	defer p.Stop()
	_ = p.Submit(create(1, "/a"))
	waitEnqueued(t, log, 1)
	_ = p.Submit(create(2, "/a/b")) // needs /a, which is not durable yet
	waitEnqueued(t, log, 1)
	if err := log.release(0, false); err != nil {
		t.Fatal(err)
	}
	if err := log.release(1, false); err != nil {
		t.Fatal(err)
	}
	wait(t, sm, 2)
	for xid := int32(1); xid <= 2; xid++ {
		if got := sm.results[xid].Err; got != jute.ErrOK {
			t.Fatalf("xid %d: %v", xid, got)
		}
	}
	if _, ok := sm.t.Get("/a/b"); !ok {
		t.Fatal("/a/b missing")
	}
}

// TestFailedBatchFencesTheNext: when a batch fails, the batches prepared
// behind it (which assumed it) fail too and never become durable; the
// pipeline then prepares against the tree as it is and reuses the zxids.
func TestFailedBatchFencesTheNext(t *testing.T) {
	log := &fenceLog{enqueued: make(chan struct{}, 16)}
	p, sm := newTestPipeline(log)
	defer p.Stop()
	_ = p.Submit(create(1, "/a"))
	waitEnqueued(t, log, 1)
	_ = p.Submit(create(2, "/a/b"))
	waitEnqueued(t, log, 1)
	if err := log.release(0, true); err == nil {
		t.Fatal("batch 0 should fail")
	}
	if err := log.release(1, false); err == nil {
		t.Fatal("batch 1 was not fenced behind the failed batch 0")
	}
	wait(t, sm, 2)
	for xid := int32(1); xid <= 2; xid++ {
		if got := sm.results[xid].Err; got != jute.ErrSystemError {
			t.Fatalf("xid %d answered %v, want SystemError", xid, got)
		}
	}
	// Prepared afresh: /a does not exist, so /a/b is NoNode, then /a works.
	_ = p.Submit(create(3, "/a/b"))
	waitEnqueued(t, log, 1)
	if err := log.release(2, false); err != nil {
		t.Fatal(err)
	}
	_ = p.Submit(create(4, "/a"))
	waitEnqueued(t, log, 1)
	if err := log.release(3, false); err != nil {
		t.Fatal(err)
	}
	wait(t, sm, 2)
	if got := sm.results[3].Err; got != jute.ErrNoNode {
		t.Fatalf("create /a/b after the failure: %v, want NoNode", got)
	}
	if got := sm.results[4].Err; got != jute.ErrOK {
		t.Fatalf("create /a after the failure: %v", got)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.durable) != 2 || log.durable[0].Zxid != log.pending[0].txns[0].Zxid {
		t.Fatalf("durable %v: the failed batches' zxids should be reused from %d", log.durable, log.pending[0].txns[0].Zxid)
	}
	if _, ok := sm.t.Get("/a/b"); ok {
		t.Fatal("/a/b reached the tree")
	}
}
