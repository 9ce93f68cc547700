package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/netio/jute"
	"zkd/tree"
)

const (
	// groupCountMax and groupBytesMax bound one group commit: the writer
	// stops taking queued appends once the batch holds this many txns or
	// bytes. A single Append larger than either is still written whole,
	// as one batch.
	groupCountMax = 4096
	groupBytesMax = 4 << 20

	// queueMax bounds the requests waiting for the writer. Enqueue blocks
	// while the queue is full: back-pressure on the proposers.
	queueMax = 4096
)

// LogOptions configures OpenLog.
type LogOptions struct {
	Dir    string       // pebble directory (e.g. <dataDir>/log)
	FS     vfs.FS       // pebble vfs; nil = vfs.Default
	NoSync bool         // zoo.cfg forceSync=no: write without fsync
	Logger *slog.Logger // nil = discard
}

// LogStats counts the Log's work since OpenLog.
type LogStats struct {
	Appends uint64 // Append/Enqueue calls acknowledged (nil error, at least one txn written)
	Txns    uint64 // txns acknowledged
	Syncs   uint64 // group commits that succeeded: one pebble batch and (unless NoSync) one fsync each
	Bytes   uint64 // bytes of keys and values in acknowledged groups
	Failed  uint64 // appends answered with an error: write, sync, out of order, or fenced
}

// Log is the durable transaction log: txns keyed by zxid in pebble.
// Methods are safe for concurrent use.
type Log struct {
	dir   string
	fs    vfs.FS
	log   *slog.Logger
	popts *pebble.Options
	wopts *pebble.WriteOptions

	reqs      chan *Pending // bounded queue to the writer
	closing   chan struct{} // closed by Close: the writer stops
	stopped   chan struct{} // closed when the writer has returned
	closeOnce sync.Once
	closed    atomic.Bool

	// last and first are the acknowledged bounds: the writer stores them,
	// anyone loads them. Every record <= last was reported durable (or
	// was there at open).
	last  atomic.Int64
	first atomic.Int64

	stats struct {
		appends, txns, syncs, bytes, failed atomic.Uint64
	}

	// gen counts the appends that failed (the writer adds, anyone
	// loads). A fenced append carries the gen its caller saw when it
	// prepared the txns; if an append has failed since, the txns may
	// build on records that will never exist, so the writer refuses them.
	gen atomic.Uint64

	// mu guards the DB handle against being closed under a reader. Only
	// the writer goroutine (and Close, after the writer has stopped)
	// changes db; the writer reads it without the lock.
	mu struct {
		sync.RWMutex
		db  *pebble.DB // nil while unavailable (after a failure, or closed)
		err error      // why db is nil
	}

	// Owned by the writer goroutine.
	w struct {
		batch *pebble.Batch // reused across groups
		val   jute.Writer   // record encoding buffer, reused
		key   []byte        // key encoding buffer, reused
		group []*Pending    // the group being committed, reused
		dead  error         // non-nil: pebble cannot continue; every call fails with it
		// truncFloor is the zxid of a TruncateAfter that failed, or -1:
		// its records above may or may not survive the reopen.
		truncFloor int64
	}
}

// OpenLog opens (creating if needed) the log in o.Dir and starts its
// writer goroutine. LastZxid and FirstZxid come from the last and first
// keys; nothing else is read.
func OpenLog(o LogOptions) (*Log, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		dir:     o.Dir,
		fs:      o.FS,
		log:     o.Logger.With("component", "engine.log", "dir", o.Dir),
		wopts:   pebble.Sync,
		reqs:    make(chan *Pending, queueMax),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if o.NoSync {
		l.wopts = pebble.NoSync
	}
	l.popts = pebbleOptions(l.fs, l.log)
	l.w.truncFloor = -1
	db, first, last, err := l.openDB()
	if err != nil {
		return nil, err
	}
	l.first.Store(first)
	l.last.Store(last)
	l.mu.db = db
	l.w.batch = newGroupBatch(db)
	l.log.Info("log opened", "first", Zxid(first), "last", Zxid(last), "sync", !o.NoSync)
	go l.run()
	return l, nil
}

// openDB opens pebble and reads the bounds from the first and last keys.
func (l *Log) openDB() (db *pebble.DB, first, last int64, err error) {
	err, _ = l.protect(func() error {
		var err error
		db, err = pebble.Open(l.dir, l.popts)
		return err
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("engine: open %s: %w", l.dir, err)
	}
	first, last, err = bounds(db)
	if err != nil {
		_ = db.Close()
		return nil, 0, 0, err
	}
	return db, first, last, nil
}

// bounds returns the first and last zxid in db (0, 0 when empty) from the
// first and last keys, checking that both are well-formed.
func bounds(db *pebble.DB) (first, last int64, err error) {
	it, err := db.NewIter(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("engine: read bounds: %w", err)
	}
	defer func() {
		if cerr := it.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("engine: read bounds: %w", cerr)
		}
	}()
	if it.First() {
		var ok bool
		if first, ok = keyZxid(it.Key()); !ok {
			return 0, 0, &CorruptError{Reason: fmt.Sprintf("first key %x is not a zxid", it.Key())}
		}
		it.Last()
		if last, ok = keyZxid(it.Key()); !ok {
			return 0, 0, &CorruptError{Reason: fmt.Sprintf("last key %x is not a zxid", it.Key())}
		}
	}
	if err := it.Error(); err != nil {
		return 0, 0, fmt.Errorf("engine: read bounds: %w", err)
	}
	assertf(first <= last, "first %s > last %s", Zxid(first), Zxid(last))
	return first, last, nil
}

// LastZxid returns the zxid of the newest record (0 for an empty log).
func (l *Log) LastZxid() int64 { return l.last.Load() }

// FirstZxid returns the zxid of the oldest record (0 for an empty log).
func (l *Log) FirstZxid() int64 { return l.first.Load() }

// Stats returns the counters.
func (l *Log) Stats() LogStats {
	return LogStats{
		Appends: l.stats.appends.Load(),
		Txns:    l.stats.txns.Load(),
		Syncs:   l.stats.syncs.Load(),
		Bytes:   l.stats.bytes.Load(),
		Failed:  l.stats.failed.Load(),
	}
}

type reqKind uint8

const (
	reqAppend reqKind = iota
	reqTruncate
	reqPurge
)

// Pending is an append (or truncate, purge) handed to the writer; Wait
// reports its outcome.
type Pending struct {
	l    *Log
	kind reqKind
	txns []tree.Txn
	recs []Record // instead of txns: already encoded (AppendRecords)
	zxid int64
	done chan error // buffered: the writer never blocks on an answer

	fenced bool   // refuse unless gen is still the Log's generation
	gen    uint64 // the generation the caller prepared against

	waited bool
	err    error
}

// Wait blocks until the request is durable (nil) or has failed. Call it
// from one goroutine; later calls return the same result.
func (p *Pending) Wait() error {
	if p.waited {
		return p.err
	}
	select {
	case p.err = <-p.done:
	case <-p.l.stopped:
		// The writer answers before it stops, so an answer it gave is
		// in done by now; otherwise it never took the request.
		select {
		case p.err = <-p.done:
		default:
			p.err = ErrClosed
		}
	}
	p.waited = true
	return p.err
}

// Append makes txns durable in order, as one batch with one sync, and
// returns once they are synced. It implements broadcast.Log. Txns of type
// jute.OpSync carry no change and are skipped. Zxids must be strictly
// increasing, within the call and across calls: a txn with zxid <=
// LastZxid() (or <= an earlier one of the call) fails the whole call with
// ErrOutOfOrder and nothing of it is written. Concurrent calls are written
// together and share one sync (group commit).
func (l *Log) Append(txns []tree.Txn) error {
	return l.Enqueue(txns).Wait()
}

// Record is a transaction already encoded (tree.Txn.Encode) under its
// zxid, as a replica receives it from its leader.
type Record struct {
	Zxid    int64
	Payload []byte
}

// ErrBadRecord answers AppendRecords for a payload too short to be an
// encoded txn.
var ErrBadRecord = errors.New("engine: record payload is not a txn")

// txnHeaderBytes is the fixed head of an encoded txn: zxid, time,
// session, cxid, type.
const txnHeaderBytes = 8 + 8 + 8 + 4 + 4

// AppendRecords is Append for transactions already encoded, so that a
// replica logs what its leader sent without decoding and encoding it
// again. Each payload must be an encoded txn; the record's zxid replaces
// the one the encoding leads with. Only the length is checked here: the
// txn is decoded when it is read or applied.
func (l *Log) AppendRecords(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if len(r.Payload) < txnHeaderBytes {
			return fmt.Errorf("%w: zxid %s, %d bytes", ErrBadRecord, Zxid(r.Zxid), len(r.Payload))
		}
	}
	p := &Pending{l: l, kind: reqAppend, recs: recs, done: make(chan error, 1)}
	l.submit(p)
	return p.Wait()
}

// Enqueue hands txns to the writer and returns without waiting for them
// to be durable: Append is Enqueue(txns).Wait(). The writer takes
// requests in the order Enqueue calls return, so a caller that assigns
// zxids on several goroutines can hold its own lock across zxid assignment
// and Enqueue (not Wait) to keep them in order while still sharing syncs.
// Enqueue blocks while the writer's queue is full. The Log reads txns
// until the request is answered; the caller must not change them before
// Wait returns.
func (l *Log) Enqueue(txns []tree.Txn) *Pending {
	p := &Pending{l: l, kind: reqAppend, txns: txns, done: make(chan error, 1)}
	if !hasChange(txns) {
		if l.closed.Load() {
			p.done <- ErrClosed
		} else {
			p.done <- nil
		}
		return p
	}
	l.submit(p)
	return p
}

// ErrFenced answers a fenced append submitted against a generation that
// has since ended: an earlier append failed.
var ErrFenced = errors.New("engine: an earlier append failed")

// EnqueueFenced is Enqueue for a caller that hands the writer batches
// which build on one another (each prepared assuming the ones before it
// commit) without waiting in between: the request pipeline overlapping
// the next batch's preparation with the current fsync. gen is Generation()
// as the caller last saw it; the append fails with ErrFenced, writing
// nothing, if any append failed after that. So once a batch fails, no
// batch enqueued behind it becomes durable and the log never has a gap.
// It implements broadcast.PipelinedLog.
func (l *Log) EnqueueFenced(txns []tree.Txn, gen uint64) interface{ Wait() error } {
	p := &Pending{l: l, kind: reqAppend, txns: txns, done: make(chan error, 1), fenced: true, gen: gen}
	if !hasChange(txns) {
		switch {
		case l.closed.Load():
			p.done <- ErrClosed
		case gen != l.gen.Load():
			p.done <- ErrFenced
		default:
			p.done <- nil
		}
		return p
	}
	l.submit(p)
	return p
}

// Generation counts the appends that have failed since OpenLog.
func (l *Log) Generation() uint64 { return l.gen.Load() }

// hasChange reports whether txns hold anything to write.
func hasChange(txns []tree.Txn) bool {
	for i := range txns {
		if txns[i].Type != jute.OpSync {
			return true
		}
	}
	return false
}

func (l *Log) submit(p *Pending) {
	if l.closed.Load() {
		p.done <- ErrClosed
		return
	}
	select {
	case l.reqs <- p:
	case <-l.closing:
		p.done <- ErrClosed
	}
}

// TruncateAfter deletes every record with zxid > zxid, durably (Zab
// TRUNC). LastZxid becomes the newest record left (0 if none).
func (l *Log) TruncateAfter(zxid int64) error {
	p := &Pending{l: l, kind: reqTruncate, zxid: max(zxid, 0), done: make(chan error, 1)}
	l.submit(p)
	return p.Wait()
}

// PurgeBefore deletes every record with zxid < zxid, durably (retention),
// except the newest record, which is always kept: LastZxid is the floor
// of the zxid order check, and an empty log would forget it on reopen.
// FirstZxid becomes the oldest record left.
func (l *Log) PurgeBefore(zxid int64) error {
	p := &Pending{l: l, kind: reqPurge, zxid: zxid, done: make(chan error, 1)}
	l.submit(p)
	return p.Wait()
}

// Read calls fn for each record with from <= zxid <= to, in zxid order,
// up to LastZxid at the call: records beyond what was acknowledged are
// never delivered. A record whose checksum fails, or that does not decode,
// stops the read with a *CorruptError (wrapping ErrCorrupt) naming its
// zxid; the records before it were delivered. An error from fn stops the
// read and is returned as is. The txn passed to fn is fn's to keep. fn
// must not call Append, TruncateAfter, PurgeBefore or Close (a reopen
// after a disk error waits for reads to finish).
func (l *Log) Read(from, to int64, fn func(x *tree.Txn) error) error {
	from = max(from, 1)
	to = min(to, l.last.Load())
	if from > to {
		if l.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.db == nil {
		if errors.Is(l.mu.err, ErrClosed) || errors.Is(l.mu.err, ErrFailed) {
			return l.mu.err
		}
		return fmt.Errorf("engine: log unavailable: %w", l.mu.err)
	}
	it, err := l.mu.db.NewIter(&pebble.IterOptions{LowerBound: appendKey(nil, from), UpperBound: upperKey(to)})
	if err != nil {
		return fmt.Errorf("engine: read: %w", err)
	}
	defer it.Close()
	var prev int64
	for ok := it.First(); ok; ok = it.Next() {
		zxid, ok := keyZxid(it.Key())
		if !ok {
			return &CorruptError{Reason: fmt.Sprintf("key %x after zxid %s is not a zxid", it.Key(), Zxid(prev))}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return readErr(zxid, err)
		}
		x, err := decodeRecord(zxid, v)
		if err != nil {
			return err
		}
		if err := fn(&x); err != nil {
			return err
		}
		prev = zxid
	}
	if err := it.Error(); err != nil {
		return readErr(prev, err)
	}
	return nil
}

// readErr wraps an error pebble returned while reading after zxid.
func readErr(zxid int64, err error) error {
	if pebble.IsCorruptionError(err) {
		return &CorruptError{Reason: fmt.Sprintf("pebble read after zxid %s: %v", Zxid(zxid), err)}
	}
	return fmt.Errorf("engine: read after zxid %s: %w", Zxid(zxid), err)
}

// Close stops the writer (queued requests not yet taken fail with
// ErrClosed), waits for the group in flight and closes pebble. Later
// calls return ErrClosed.
func (l *Log) Close() error {
	err := ErrClosed
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.closing)
		<-l.stopped
		l.mu.Lock()
		db, dead := l.mu.db, l.w.dead
		l.mu.db, l.mu.err = nil, ErrClosed
		l.mu.Unlock()
		err = nil
		if db == nil {
			if dead != nil {
				err = dead
			}
			return
		}
		if l.w.batch != nil {
			_ = l.w.batch.Close()
			l.w.batch = nil
		}
		if cerr, _ := l.protect(db.Close); cerr != nil {
			err = fmt.Errorf("engine: close: %w", cerr)
		}
		l.log.Info("log closed", "last", Zxid(l.last.Load()))
	})
	return err
}
