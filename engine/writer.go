package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/netio/jute"
)

// run is the writer goroutine: it alone writes to pebble. It takes one
// request, then every append already queued (up to groupCountMax txns and
// groupBytesMax bytes), commits them as one batch with one sync, and
// answers them all. No timer: a lone request is committed at once, and
// requests that arrive during a sync form the next group.
func (l *Log) run() {
	defer close(l.stopped)
	var next *Pending
	for {
		p := next
		next = nil
		if p == nil {
			select {
			case p = <-l.reqs:
			case <-l.closing:
				l.rejectQueued()
				return
			}
		}
		switch p.kind {
		case reqAppend:
			next = l.appendGroup(p)
		case reqTruncate:
			p.done <- l.truncateAfter(p.zxid)
		case reqPurge:
			p.done <- l.purgeBefore(p.zxid)
		default:
			assertf(false, "request kind %d", p.kind)
		}
	}
}

// rejectQueued answers what is queued with ErrClosed. Bounded: Close
// stops new requests from queueing, so at most queueMax remain, plus those
// whose senders raced Close (Wait covers those through l.stopped).
func (l *Log) rejectQueued() {
	for range queueMax {
		select {
		case p := <-l.reqs:
			p.done <- ErrClosed
		default:
			return
		}
	}
}

// appendGroup commits p and the appends queued behind it as one group. It
// returns a non-append request it took off the queue, to run next.
func (l *Log) appendGroup(p *Pending) (next *Pending) {
	readyErr := l.ready()
	last := l.last.Load() // running: the zxid the next txn must exceed
	groupFirst, txns := int64(0), 0
	l.w.group = l.w.group[:0]
	for {
		if p.fenced && p.gen != l.gen.Load() {
			l.stats.failed.Add(1)
			p.done <- ErrFenced
		} else if readyErr != nil {
			l.w.group = append(l.w.group, p)
			txns++
		} else if n, first, err := l.encode(p, &last); err != nil {
			// This call only; unfenced appends of the group go on.
			l.gen.Add(1)
			l.stats.failed.Add(1)
			p.done <- err
		} else {
			l.w.group = append(l.w.group, p)
			txns += n
			if groupFirst == 0 {
				groupFirst = first
			}
		}
		if txns >= groupCountMax || (l.w.batch != nil && l.w.batch.Len() >= groupBytesMax) {
			break
		}
		var ok bool
		select {
		case p = <-l.reqs:
			ok = p.kind == reqAppend
			if !ok {
				next = p
			}
		default:
		}
		if !ok {
			break
		}
	}
	if len(l.w.group) == 0 {
		return next
	}
	err := readyErr
	if err == nil {
		bytes := uint64(l.w.batch.Len())
		if err = l.commit(); err == nil {
			assertf(last > l.last.Load(), "group ends at %s, not after %s", Zxid(last), Zxid(l.last.Load()))
			if l.first.Load() == 0 {
				l.first.Store(groupFirst)
			}
			l.last.Store(last)
			l.stats.syncs.Add(1)
			l.stats.bytes.Add(bytes)
			l.stats.txns.Add(uint64(txns))
			l.stats.appends.Add(uint64(len(l.w.group)))
		} else {
			err = fmt.Errorf("engine: append up to zxid %s: %w", Zxid(last), err)
		}
	}
	if err != nil {
		l.gen.Add(1)
		l.stats.failed.Add(uint64(len(l.w.group)))
	}
	for i, q := range l.w.group {
		q.done <- err
		l.w.group[i] = nil
	}
	return next
}

// encodeRecords is encode for AppendRecords.
func (l *Log) encodeRecords(p *Pending, last *int64) (n int, first int64, err error) {
	prev := *last
	for _, r := range p.recs {
		if r.Zxid <= prev {
			return 0, 0, fmt.Errorf("%w: zxid %s after %s", ErrOutOfOrder, Zxid(r.Zxid), Zxid(prev))
		}
		prev = r.Zxid
	}
	for _, r := range p.recs {
		l.w.key = appendKey(l.w.key[:0], r.Zxid)
		v := append(append(l.w.val.B[:0], 0, 0, 0, 0), r.Payload...)
		binary.BigEndian.PutUint64(v[crcBytes:], uint64(r.Zxid))
		binary.BigEndian.PutUint32(v, crc32.Checksum(v[crcBytes:], castagnoli))
		l.w.val.B = v
		if err := l.w.batch.Set(l.w.key, v, nil); err != nil {
			assertf(false, "batch set: %v", err)
		}
	}
	*last = prev
	return len(p.recs), p.recs[0].Zxid, nil
}

// encode checks p's zxids against *last and, if all are in order, adds
// p's records to the batch and advances *last. It returns the number of
// txns added and the first zxid.
func (l *Log) encode(p *Pending, last *int64) (n int, first int64, err error) {
	if p.recs != nil {
		return l.encodeRecords(p, last)
	}
	prev := *last
	for i := range p.txns {
		x := &p.txns[i]
		if x.Type == jute.OpSync {
			continue
		}
		if x.Zxid <= prev {
			return 0, 0, fmt.Errorf("%w: zxid %s after %s", ErrOutOfOrder, Zxid(x.Zxid), Zxid(prev))
		}
		prev = x.Zxid
	}
	for i := range p.txns {
		x := &p.txns[i]
		if x.Type == jute.OpSync {
			continue
		}
		l.w.key = appendKey(l.w.key[:0], x.Zxid)
		v := encodeRecord(&l.w.val, x)
		// Set copies key and value into the batch: both buffers are reused.
		if err := l.w.batch.Set(l.w.key, v, nil); err != nil {
			assertf(false, "batch set: %v", err) // Set fails only on a closed batch
		}
		if first == 0 {
			first = x.Zxid
		}
		n++
	}
	*last = prev
	return n, first, nil
}

// commit commits the batch (with the Log's write options: one fsync unless
// NoSync) and resets it for reuse. On failure nothing of the batch counts
// as durable and the DB is closed, to be reopened by the next request
// (ready); if pebble cannot continue, the Log is dead.
func (l *Log) commit() error {
	err, closable := l.protect(func() error { return l.w.batch.Commit(l.wopts) })
	if err == nil {
		l.w.batch.Reset()
		return nil
	}
	l.fail(err, closable)
	if l.w.dead != nil {
		return l.w.dead
	}
	return err
}

// fail takes the DB out of service after a failed write. The batch is
// dropped, not reused: pebble detaches a batch whose commit failed.
func (l *Log) fail(err error, closable bool) {
	l.w.batch = nil
	l.mu.Lock()
	db := l.mu.db
	l.mu.db, l.mu.err = nil, err
	l.mu.Unlock()
	if !closable {
		// Pebble may hold its locks: closing it could hang. Leave it.
		l.setDead(fmt.Errorf("%w: %v", ErrFailed, err))
		return
	}
	l.log.Error("log write failed; closing pebble, will reopen on the next write", "err", err)
	if cerr, ok := l.protect(db.Close); cerr != nil {
		l.log.Warn("close after failure", "err", cerr)
		if !ok {
			l.setDead(fmt.Errorf("%w: %v", ErrFailed, cerr))
		}
	}
}

// setDead marks the Log failed for good: every later call returns err.
func (l *Log) setDead(err error) {
	if l.w.dead != nil {
		return // keep the first cause
	}
	l.w.dead = err
	l.mu.Lock()
	l.mu.err = err
	l.mu.Unlock()
	l.log.Error("log failed; restart to reopen it", "err", err)
}

// ready makes sure a DB is open, reopening it after a failure.
func (l *Log) ready() error {
	if l.w.dead != nil {
		return l.w.dead
	}
	if l.mu.db != nil {
		return nil
	}
	if err := l.reopen(); err != nil {
		if l.w.dead != nil {
			return l.w.dead
		}
		return fmt.Errorf("engine: log unavailable: %w", err)
	}
	return nil
}

// reopen opens pebble again after a failed write, and rolls back what the
// failed groups may have left: pebble applies a batch to its memtable
// before the fsync, so a group whose sync failed can still be in the WAL
// and come back on replay. Records above the acknowledged LastZxid were
// never reported durable; they are deleted (durably) before the Log goes
// back into service, so that the log is exactly what was acknowledged.
//
// It probes the disk first and tries pebble.Open only once the probe
// passes, because a failed pebble.Open cannot be retried in this process:
// Open replays the WAL and flushes it on a background goroutine, which
// can schedule a compaction, before the steps that can still fail
// (creating the new WAL); pebble v2.1.7 returns the error without
// stopping that work and releases the directory lock, so a second Open
// would run two stores on one directory. (Seen in TestRandomWALFaults:
// "element has outstanding references" panics in Open's cleanup, a data
// race, then "sstable unknown to the objstorage provider".) So a failed
// reopen kills the Log (ErrFailed); a restart opens the log cleanly.
func (l *Log) reopen() error {
	if err := l.probe(); err != nil {
		return fmt.Errorf("disk still failing (probe): %w", err)
	}
	db, first, last, err := l.openDB()
	if err != nil {
		l.setDead(fmt.Errorf("%w: reopen after a write failure: %v", ErrFailed, err))
		return l.w.dead
	}
	acked := l.last.Load()
	closeWith := func(err error) error {
		if cerr, ok := l.protect(db.Close); cerr != nil && !ok {
			l.setDead(fmt.Errorf("%w: %v", ErrFailed, cerr))
		}
		return err
	}
	if last > acked {
		b := db.NewBatch()
		_ = b.DeleteRange(appendKey(nil, acked+1), keyEnd, nil)
		err, closable := l.protect(func() error { return b.Commit(l.wopts) })
		if err != nil {
			if !closable {
				l.setDead(fmt.Errorf("%w: %v", ErrFailed, err))
				return err
			}
			return closeWith(fmt.Errorf("roll back unacknowledged records: %w", err))
		}
		_ = b.Close()
		if first, last, err = bounds(db); err != nil {
			return closeWith(err)
		}
		l.log.Warn("rolled back unacknowledged records", "after", Zxid(acked))
	}
	if last < acked && !(l.w.truncFloor >= 0 && last <= l.w.truncFloor) {
		// Acknowledged records are gone: the disk lost synced data.
		err := &CorruptError{Zxid: acked, Reason: fmt.Sprintf("acknowledged records missing after reopen (last record %s)", Zxid(last))}
		l.setDead(err)
		return closeWith(err)
	}
	l.w.truncFloor = -1
	l.first.Store(first)
	l.last.Store(last)
	l.w.batch = newGroupBatch(db)
	l.mu.Lock()
	l.mu.db, l.mu.err = db, nil
	l.mu.Unlock()
	l.log.Info("log reopened", "first", Zxid(first), "last", Zxid(last))
	return nil
}

// truncateAfter deletes the records above zxid.
func (l *Log) truncateAfter(zxid int64) error {
	if err := l.ready(); err != nil {
		return err
	}
	if zxid >= l.last.Load() {
		return nil
	}
	_ = l.w.batch.DeleteRange(appendKey(nil, zxid+1), keyEnd, nil)
	if err := l.commit(); err != nil {
		if l.w.truncFloor < 0 || zxid < l.w.truncFloor {
			l.w.truncFloor = zxid
		}
		return fmt.Errorf("engine: truncate after %s: %w", Zxid(zxid), err)
	}
	return l.refreshBounds("truncate")
}

// purgeBefore deletes the records below zxid, keeping the newest.
func (l *Log) purgeBefore(zxid int64) error {
	if err := l.ready(); err != nil {
		return err
	}
	end := min(zxid, l.last.Load())
	if end <= l.first.Load() {
		return nil
	}
	// Excise drops the tables wholly below end and trims the one that
	// straddles it, in one MANIFEST edit: no range tombstone is left over
	// live records, so purging never makes pebble rewrite the log it
	// keeps (a DeleteRange did: the compactions it caused took a fifth of
	// the server's CPU under a sustained write load).
	span := pebble.KeyRange{Start: appendKey(nil, 0), End: appendKey(nil, end)}
	err, closable := l.protect(func() error { return l.mu.db.Excise(context.Background(), span) })
	if err != nil {
		if !closable {
			l.fail(err, false)
		}
		return fmt.Errorf("engine: purge before %s: %w", Zxid(zxid), err)
	}
	return l.refreshBounds("purge")
}

// refreshBounds reloads first and last from the keys after a delete.
func (l *Log) refreshBounds(op string) error {
	first, last, err := bounds(l.mu.db)
	if err != nil {
		return fmt.Errorf("engine: %s: %w", op, err)
	}
	assertf(last <= l.last.Load(), "%s grew the log: last %s > %s", op, Zxid(last), Zxid(l.last.Load()))
	l.first.Store(first)
	l.last.Store(last)
	return nil
}

// probeName is the file the disk probe writes in the log directory;
// pebble ignores files whose names it does not parse.
const probeName = "zkd-probe"

var probeData [4096]byte

// probe writes, syncs and removes a small file in the log directory,
// through the Log's vfs: a cheap check that the disk takes writes again,
// made before pebble.Open is risked.
func (l *Log) probe() error {
	path := l.fs.PathJoin(l.dir, probeName)
	f, err := l.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, werr := f.Write(probeData[:])
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(werr, serr, cerr, l.fs.Remove(path))
}
