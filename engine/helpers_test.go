package engine

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"zkd/netio/jute"
	"zkd/tree"
)

// makeTxn returns the txn the tests store under zxid: its type and size
// vary with the zxid so that every encoding path is exercised.
func makeTxn(zxid int64) tree.Txn {
	x := tree.Txn{Zxid: zxid, Time: 1_700_000_000_000 + zxid, Session: 0x1000 + zxid%7, Cxid: int32(zxid)}
	path := fmt.Sprintf("/n/%d", zxid)
	data := bytes.Repeat([]byte{byte(zxid)}, int(uint64(zxid)%97))
	switch uint64(zxid) % 5 {
	case 0:
		x.Type, x.Path, x.Data, x.Owner, x.Version = jute.OpCreate, path, data, zxid%3, int32(zxid%11)
		x.ACL = []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	case 1:
		x.Type, x.Path, x.Data, x.Version = jute.OpSetData, path, data, int32(zxid%13)
	case 2:
		x.Type, x.Path = jute.OpDelete, path
	case 3:
		x.Type = jute.OpMulti
		x.Ops = []tree.Txn{
			{Type: jute.OpCheck, Path: path, Version: 3},
			{Type: jute.OpSetData, Path: path, Data: data, Version: 4},
		}
	case 4:
		x.Type, x.Timeout = jute.OpCreateSession, 30000
	}
	return x
}

func payload(x *tree.Txn) []byte {
	var w jute.Writer
	x.Encode(&w)
	return w.B
}

// checkTxn fails unless x is the txn makeTxn stores under its zxid.
func checkTxn(t testing.TB, x *tree.Txn) {
	t.Helper()
	want := makeTxn(x.Zxid)
	if !bytes.Equal(payload(x), payload(&want)) {
		t.Fatalf("zxid %s: read %+v, want %+v", Zxid(x.Zxid), *x, want)
	}
}

func txnsOf(zxids ...int64) []tree.Txn {
	v := make([]tree.Txn, len(zxids))
	for i, z := range zxids {
		v[i] = makeTxn(z)
	}
	return v
}

func openLog(t testing.TB, fs vfs.FS) *Log {
	t.Helper()
	l, err := OpenLog(LogOptions{Dir: "log", FS: fs})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// readAll returns the zxids of every record, checking each one's content.
func readAll(t testing.TB, l *Log) []int64 {
	t.Helper()
	var got []int64
	err := l.Read(0, 1<<63-1, func(x *tree.Txn) error {
		checkTxn(t, x)
		got = append(got, x.Zxid)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

// orderedAppender assigns consecutive zxids and enqueues under one lock,
// then waits outside it: concurrent Appends whose zxids stay in order.
type orderedAppender struct {
	l    *Log
	mu   sync.Mutex
	next int64
	// acked is the highest zxid whose Append returned nil. Appends of one
	// txn each with consecutive zxids complete in order, so every zxid <=
	// acked was acknowledged.
	acked atomic.Int64
}

func (a *orderedAppender) append(size int) (int64, error) {
	a.mu.Lock()
	a.next++
	zxid := a.next
	x := makeTxn(zxid)
	if size > 0 {
		x = tree.Txn{Zxid: zxid, Type: jute.OpSetData, Path: "/bench", Data: make([]byte, size), Version: 1}
	}
	p := a.l.Enqueue([]tree.Txn{x})
	a.mu.Unlock()
	err := p.Wait()
	if err == nil {
		for {
			cur := a.acked.Load()
			if zxid <= cur || a.acked.CompareAndSwap(cur, zxid) {
				break
			}
		}
	}
	return zxid, err
}

// walFaults injects errors into pebble's WAL files (*.log) and the
// engine's disk probe only, for the ops its mode selects. Faults elsewhere (MANIFEST, sstables) make pebble
// call Fatalf on a background goroutine, which pebble cannot continue
// from by design; the Log's contract covers the write path.
type walFaults struct {
	mode atomic.Int32 // faultNone, faultSync, faultWrite, faultAll
	hits atomic.Int64
}

const (
	faultNone int32 = iota
	faultSync
	faultWrite
	faultAll
)

func (f *walFaults) String() string { return "walFaults" }

func (f *walFaults) MaybeError(op errorfs.Op) error {
	mode := f.mode.Load()
	if mode == faultNone || !(strings.HasSuffix(op.Path, ".log") || strings.HasSuffix(op.Path, probeName)) {
		return nil
	}
	isSync := op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo
	isWrite := op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileWriteAt
	if (mode == faultSync && isSync) || (mode == faultWrite && isWrite) || (mode == faultAll && op.Kind.ReadOrWrite() == errorfs.OpIsWrite) {
		f.hits.Add(1)
		return errorfs.ErrInjected
	}
	return nil
}
