package zab

import (
	"math"
	"sort"
)

// zlog is a server's history in memory: the entries after start (the zxid
// of the newest snapshot, or 0), in zxid order, plus what of it has been
// handed to the driver and what the driver reported durable.
//
// Every slice given out (Ready.Entries, Ready.Committed, message entries)
// aliases entries; truncateAfter caps the slice so that later appends copy
// instead of overwriting a slice the driver may still be writing.
type zlog struct {
	start   Zxid
	entries []Entry

	// handed: every entry <= handed was given to the driver in a Ready and
	// is the same entry as in memory. Entries above it go in the next Ready.
	handed Zxid
	// stable: every entry <= stable is durable and the same as in memory.
	stable Zxid

	snap     *Snapshot // to install, in the next Ready
	truncSet bool      // truncate after truncAfter, in the next Ready
	truncAt  Zxid

	// The Ready in flight: the log's end once it is durable, and the lowest
	// point memory was cut back to since it was handed out.
	inflight   bool
	inflightTo Zxid
	cutSince   Zxid
}

func newLog(start Zxid, entries []Entry) zlog {
	l := zlog{start: start, entries: entries}
	l.handed = l.last()
	l.stable = l.last()
	return l
}

func (l *zlog) last() Zxid {
	if len(l.entries) == 0 {
		return l.start
	}
	return l.entries[len(l.entries)-1].Zxid
}

// search returns the index of the first entry with zxid >= z.
func (l *zlog) search(z Zxid) int {
	return sort.Search(len(l.entries), func(i int) bool { return l.entries[i].Zxid >= z })
}

// after returns the entries with zxid > z (z >= start).
func (l *zlog) after(z Zxid) []Entry {
	assert(z >= l.start, "after(%v) below log start %v", z, l.start)
	i := l.search(z + 1)
	return l.entries[i:len(l.entries):len(l.entries)]
}

// between returns the entries in (lo, hi].
func (l *zlog) between(lo, hi Zxid) []Entry {
	i, j := l.search(lo+1), l.search(hi+1)
	return l.entries[i:j:j]
}

func (l *zlog) append(es ...Entry) {
	for _, e := range es {
		assert(e.Zxid > l.last(), "append %v after %v", e.Zxid, l.last())
		l.entries = append(l.entries, e)
	}
}

// truncateAfter drops the entries with zxid > z.
func (l *zlog) truncateAfter(z Zxid) {
	assert(z >= l.start, "truncate after %v below log start %v", z, l.start)
	i := l.search(z + 1)
	l.entries = l.entries[:i:i]
	l.handed = min(l.handed, z)
	l.stable = min(l.stable, z)
	l.cutSince = min(l.cutSince, z)
	if !l.truncSet || z < l.truncAt {
		l.truncSet, l.truncAt = true, z
	}
}

// install replaces the whole log with a snapshot.
func (l *zlog) install(s Snapshot) {
	l.start = s.Zxid
	l.entries = nil
	l.snap = &s
	l.truncSet = false
	l.handed = s.Zxid
	// Until the snapshot is durable, nothing on disk is known to match.
	l.stable = 0
	l.cutSince = 0
}

// compact drops the entries <= z (z <= stable).
func (l *zlog) compact(z Zxid) {
	assert(z <= l.stable && z <= l.last(), "compact to %v beyond stable %v", z, l.stable)
	if z <= l.start {
		return
	}
	i := l.search(z + 1)
	l.entries = append([]Entry(nil), l.entries[i:]...)
	l.start = z
}

func (l *zlog) hasUnhanded() bool {
	return l.snap != nil || l.truncSet || l.handed < l.last()
}

func (l *zlog) unhandedCount() int { return len(l.entries) - l.search(l.handed+1) }

// take hands out what must be persisted next: a snapshot, a truncation, and
// up to readyEntriesMax entries or readyBytesMax bytes (at least one).
func (l *zlog) take() (snap *Snapshot, trunc bool, truncAt Zxid, es []Entry) {
	assert(!l.inflight, "take with a Ready in flight")
	snap, l.snap = l.snap, nil
	trunc, truncAt, l.truncSet = l.truncSet, l.truncAt, false
	i := l.search(l.handed + 1)
	j, bytes := i, 0
	for j < len(l.entries) && j-i < readyEntriesMax {
		bytes += len(l.entries[j].Data)
		if j > i && bytes > readyBytesMax {
			break
		}
		j++
	}
	es = l.entries[i:j:j]
	if len(es) > 0 {
		l.handed = es[len(es)-1].Zxid
	}
	l.inflight, l.inflightTo, l.cutSince = true, l.handed, math.MaxUint64
	return snap, trunc, truncAt, es
}

// advance records that the Ready in flight is durable.
func (l *zlog) advance() {
	assert(l.inflight, "advance with no Ready in flight")
	l.inflight = false
	l.stable = max(l.stable, min(l.inflightTo, l.cutSince))
}

// lastInEpoch is the newest zxid of epoch e that the log holds, counting
// the snapshot point.
func (l *zlog) lastInEpoch(e Epoch) (Zxid, bool) {
	j := l.search(MakeZxid(e, math.MaxUint32)+1) - 1
	if j >= 0 && l.entries[j].Zxid.Epoch() == e {
		return l.entries[j].Zxid, true
	}
	if l.start != 0 && l.start.Epoch() == e {
		return l.start, true
	}
	return 0, false
}

// epochEnds lists the last zxid of each of the newest n epochs in the log,
// ascending.
func (l *zlog) epochEnds(n int) []Zxid {
	var out []Zxid
	i := len(l.entries) - 1
	for i >= 0 && len(out) < n {
		z := l.entries[i].Zxid
		out = append(out, z)
		i = l.search(MakeZxid(z.Epoch(), 0)) - 1
	}
	for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
		out[a], out[b] = out[b], out[a]
	}
	return out
}

// commonPoint is the newest zxid that both this log and a follower's hold,
// given the follower's commit point (or log start) and epoch ends. A log that holds zxid z
// holds the one history that leads to z (one leader per epoch; a follower
// takes epoch e's proposals only after syncing to its leader's history, and
// only ever loses a suffix), so within an epoch two logs agree up to the
// smaller of their ends; and the follower's commit point is committed, so
// the leader holds it.
func (l *zlog) commonPoint(fCommit Zxid, fEnds []Zxid) Zxid {
	c := min(fCommit, l.last())
	for _, f := range fEnds {
		if z, ok := l.lastInEpoch(f.Epoch()); ok {
			c = max(c, min(f, z))
		}
	}
	return c
}
