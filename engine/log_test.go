package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"zkd/netio/jute"
	"zkd/tree"
)

// TestLogScript runs small scripts against a fresh log on a MemFS. Lines:
//
//	append Z... [! outoforder]  one Append; "sZ" is an OpSync txn with zxid Z
//	truncate Z | purge Z        TruncateAfter / PurgeBefore
//	reopen                      Close and OpenLog on the same FS
//	bounds F L                  FirstZxid, LastZxid
//	read FROM TO = Z...         Read's zxids (contents checked too)
func TestLogScript(t *testing.T) {
	cases := []struct{ name, script string }{
		{"empty", `
bounds 0 0
read 0 100 =
reopen
bounds 0 0`},
		{"append and read ranges", `
append 1 2 3
append 4
bounds 1 4
read 1 4 = 1 2 3 4
read 2 3 = 2 3
read -5 2 = 1 2
read 4 4 = 4
read 5 9 =
read 3 1 =
reopen
bounds 1 4
read 0 100 = 1 2 3 4`},
		{"epochs and the largest zxid", `
append 0x100000001 0x100000002 0x200000001
append 0x7fffffffffffffff
bounds 0x100000001 0x7fffffffffffffff
read 0x100000002 0x7fffffffffffffff = 0x100000002 0x200000001 0x7fffffffffffffff
reopen
bounds 0x100000001 0x7fffffffffffffff`},
		{"out of order writes nothing of the call", `
append 1 2
append 2 ! outoforder
append 3 5 4 ! outoforder
append 0 ! outoforder
append -7 ! outoforder
bounds 1 2
append 3
read 0 10 = 1 2 3`},
		{"sync txns carry no change", `
append s0
append s5
bounds 0 0
append 1 s1 2 s2
append s2
append 3
read 0 10 = 1 2 3`},
		{"truncate", `
append 1 2 3 4 5
truncate 9
bounds 1 5
truncate 3
bounds 1 3
read 0 10 = 1 2 3
append 4
bounds 1 4
reopen
read 0 10 = 1 2 3 4
truncate 0
bounds 0 0
read 0 10 =
append 1
reopen
bounds 1 1`},
		{"truncate between records", `
append 10 20 30
truncate 25
bounds 10 20
append 21
read 0 100 = 10 20 21`},
		{"purge", `
append 1 2 3 4 5
purge 1
bounds 1 5
purge 3
bounds 3 5
read 0 10 = 3 4 5
reopen
bounds 3 5
read 0 10 = 3 4 5
purge 100
bounds 5 5
reopen
bounds 5 5
append 4 ! outoforder
append 6
read 0 10 = 5 6`},
		{"purge then truncate", `
append 1 2 3 4 5
purge 3
truncate 4
bounds 3 4
truncate 1
bounds 0 0
append 2
bounds 2 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := openLog(t, fs)
			defer func() { l.Close() }()
			for n, line := range strings.Split(strings.TrimSpace(c.script), "\n") {
				where := fmt.Sprintf("line %d %q", n+1, line)
				runLine(t, where, line, fs, &l)
			}
		})
	}
}

func runLine(t *testing.T, where, line string, fs vfs.FS, lp **Log) {
	l := *lp
	line, wantErr, _ := strings.Cut(line, "!")
	wantErr = strings.TrimSpace(wantErr)
	lhs, rhs, hasEq := strings.Cut(line, "=")
	f := strings.Fields(lhs)
	num := func(s string) int64 {
		v, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		return v
	}
	var err error
	switch f[0] {
	case "append":
		var txns []tree.Txn
		for _, s := range f[1:] {
			if z, ok := strings.CutPrefix(s, "s"); ok {
				txns = append(txns, tree.Txn{Type: jute.OpSync, Zxid: num(z)})
			} else {
				txns = append(txns, makeTxn(num(s)))
			}
		}
		err = l.Append(txns)
	case "truncate":
		err = l.TruncateAfter(num(f[1]))
	case "purge":
		err = l.PurgeBefore(num(f[1]))
	case "reopen":
		if err := l.Close(); err != nil {
			t.Fatalf("%s: close: %v", where, err)
		}
		*lp = openLog(t, fs)
	case "bounds":
		if first, last := l.FirstZxid(), l.LastZxid(); first != num(f[1]) || last != num(f[2]) {
			t.Fatalf("%s: bounds %d %d", where, first, last)
		}
	case "read":
		if !hasEq {
			t.Fatalf("%s: read needs =", where)
		}
		var got []int64
		err = l.Read(num(f[1]), num(f[2]), func(x *tree.Txn) error {
			checkTxn(t, x)
			got = append(got, x.Zxid)
			return nil
		})
		var want []int64
		for _, s := range strings.Fields(rhs) {
			want = append(want, num(s))
		}
		if err == nil && !slices.Equal(got, want) {
			t.Fatalf("%s: read %v", where, got)
		}
	default:
		t.Fatalf("%s: unknown command", where)
	}
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("%s: %v", where, err)
	case wantErr == "outoforder" && !errors.Is(err, ErrOutOfOrder):
		t.Fatalf("%s: err %v, want ErrOutOfOrder", where, err)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	l := openLog(t, vfs.NewMem())
	defer l.Close()
	if err := l.Append(txnsOf(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	var got []int64
	err := l.Read(1, 3, func(x *tree.Txn) error {
		got = append(got, x.Zxid)
		if x.Zxid == 2 {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("err %v got %v", err, got)
	}
}

func TestClosed(t *testing.T) {
	l := openLog(t, vfs.NewMem())
	if err := l.Append(txnsOf(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"append":   l.Append(txnsOf(2)),
		"sync":     l.Append([]tree.Txn{{Type: jute.OpSync}}),
		"truncate": l.TruncateAfter(0),
		"purge":    l.PurgeBefore(1),
		"read":     l.Read(1, 1, func(*tree.Txn) error { return nil }),
		"close":    l.Close(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

// TestCloseWhileAppending: Close races appenders; every Append returns
// (nil or ErrClosed), and every nil one is in the log after reopen.
func TestCloseWhileAppending(t *testing.T) {
	fs := vfs.NewMem()
	l := openLog(t, fs)
	a := &orderedAppender{l: l}
	var wg sync.WaitGroup
	progress := make(chan struct{}) // closed once zxid 200 is acknowledged
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				z, err := a.append(0)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("append: %v", err)
					}
					return
				}
				if z == 200 {
					close(progress)
				}
			}
		}()
	}
	<-progress
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	acked := a.acked.Load()
	l = openLog(t, fs)
	defer l.Close()
	got := readAll(t, l)
	if int64(len(got)) < acked || got[len(got)-1] != int64(len(got)) {
		t.Fatalf("acked %d, log has %d records ending at %d", acked, len(got), got[len(got)-1])
	}
}

// TestGroupCommit: 64 goroutines × 50 Appends share syncs. Each WAL fsync
// takes 1 ms here (an injected disk latency), as on a real disk, so that
// appends pile up behind it whatever the scheduler does.
func TestGroupCommit(t *testing.T) {
	const goroutines, each = 64, 50
	slowSync := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	fs := errorfs.Wrap(vfs.NewMem(), slowSync)
	l := openLog(t, fs)
	defer l.Close()
	a := &orderedAppender{l: l}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if z, err := a.append(0); err != nil {
					t.Errorf("append %d: %v", z, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, l)
	if len(got) != goroutines*each {
		t.Fatalf("%d records", len(got))
	}
	for i, z := range got {
		if z != int64(i+1) {
			t.Fatalf("record %d has zxid %d", i, z)
		}
	}
	st := l.Stats()
	perSync := float64(st.Txns) / float64(st.Syncs)
	t.Logf("stats %+v: %.1f txns per sync", st, perSync)
	if st.Appends != goroutines*each || st.Txns != goroutines*each || perSync <= 2 {
		t.Fatalf("stats %+v: %.1f txns per sync, want > 2", st, perSync)
	}
}

// TestOutOfOrderInGroup: a stale request in a group fails alone.
func TestOutOfOrderInGroup(t *testing.T) {
	l := openLog(t, vfs.NewMem())
	defer l.Close()
	if err := l.Append(txnsOf(1)); err != nil {
		t.Fatal(err)
	}
	// Enqueue returns before the writer takes the request, so these
	// usually land in one group; the outcome does not depend on it.
	ps := []*Pending{l.Enqueue(txnsOf(2, 3)), l.Enqueue(txnsOf(3)), l.Enqueue(txnsOf(4))}
	if err := ps[0].Wait(); err != nil {
		t.Fatal(err)
	}
	if err := ps[1].Wait(); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("stale: %v", err)
	}
	if err := ps[2].Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("log %v", got)
	}
}

// TestReadCorrupt writes bad values straight into pebble and checks that
// Read stops at them with a CorruptError naming the zxid, after
// delivering the records before.
func TestReadCorrupt(t *testing.T) {
	good := func(z int64) []byte {
		var w jute.Writer
		x := makeTxn(z)
		return append([]byte(nil), encodeRecord(&w, &x)...)
	}
	cases := []struct {
		name  string
		key   []byte
		value func() []byte
		after int64 // records delivered before the error
		zxid  int64 // CorruptError.Zxid
	}{
		{"payload byte flipped", appendKey(nil, 5), func() []byte { v := good(5); v[len(v)-1] ^= 0x40; return v }, 4, 5},
		{"checksum byte flipped", appendKey(nil, 5), func() []byte { v := good(5); v[0] ^= 1; return v }, 4, 5},
		{"short value", appendKey(nil, 5), func() []byte { return []byte{1, 2} }, 4, 5},
		{"checksum fine, payload does not decode", appendKey(nil, 5), func() []byte {
			v := append(good(5), 0xee) // trailing garbage under a fresh checksum
			binary.BigEndian.PutUint32(v, crc32.Checksum(v[crcBytes:], castagnoli))
			return v
		}, 4, 5},
		{"record of another zxid", appendKey(nil, 5), func() []byte { return good(6) }, 4, 5},
		{"first record", appendKey(nil, 1), func() []byte { v := good(1); v[7] ^= 0xff; return v }, 0, 1},
		{"malformed key", append(appendKey(nil, 5), 0), func() []byte { return good(5) }, 5, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := openLog(t, fs)
			if err := l.Append(txnsOf(1, 2, 3, 4, 5, 6, 7)); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rawSet(t, fs, c.key, c.value())
			l = openLog(t, fs)
			defer l.Close()
			var got []int64
			err := l.Read(0, 100, func(x *tree.Txn) error {
				got = append(got, x.Zxid)
				return nil
			})
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Zxid != c.zxid {
				t.Fatalf("err %v, want CorruptError at zxid %d", err, c.zxid)
			}
			if c.zxid != 0 && !strings.Contains(err.Error(), Zxid(c.zxid).String()) {
				t.Fatalf("error %q does not name zxid %s", err, Zxid(c.zxid))
			}
			if int64(len(got)) != c.after {
				t.Fatalf("delivered %v before the error, want %d records", got, c.after)
			}
			t.Log(err)
		})
	}
}

// rawSet writes one key straight into the log's pebble store.
func rawSet(t *testing.T, fs vfs.FS, key, value []byte) {
	t.Helper()
	db, err := pebble.Open("log", pebbleOptions(fs, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(key, value, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsMalformedFirstKey(t *testing.T) {
	fs := vfs.NewMem()
	l := openLog(t, fs)
	if err := l.Append(txnsOf(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rawSet(t, fs, []byte{0}, []byte{1})
	if _, err := OpenLog(LogOptions{Dir: "log", FS: fs}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

// TestLargeAppend: one Append over groupCountMax and groupBytesMax is
// still one batch, one sync.
func TestLargeAppend(t *testing.T) {
	l := openLog(t, vfs.NewMem())
	defer l.Close()
	const n = groupCountMax + 100
	txns := make([]tree.Txn, n)
	for i := range txns {
		txns[i] = makeTxn(int64(i + 1))
		txns[i].Data = make([]byte, 1100) // n × 1100 B > groupBytesMax
		txns[i].Type, txns[i].Ops = jute.OpSetData, nil
	}
	if err := l.Append(txns); err != nil {
		t.Fatal(err)
	}
	var got int64
	err := l.Read(0, n, func(x *tree.Txn) error {
		got++
		if x.Zxid != got || len(x.Data) != 1100 {
			t.Fatalf("record %d: zxid %d, %d bytes", got, x.Zxid, len(x.Data))
		}
		return nil
	})
	if err != nil || got != n {
		t.Fatalf("read %d records: %v", got, err)
	}
	if st := l.Stats(); st.Syncs != 1 || st.Txns != n || st.Bytes < groupBytesMax {
		t.Fatalf("stats %+v", st)
	}
}

// TestNoSync: forceSync=no still logs every txn (pebble writes the WAL
// without fsync), and a clean Close keeps them.
func TestNoSync(t *testing.T) {
	fs := vfs.NewMem()
	l, err := OpenLog(LogOptions{Dir: "log", FS: fs, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for z := int64(1); z <= 20; z++ {
		if err := l.Append(txnsOf(z)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateAfter(15); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, fs)
	defer l.Close()
	checkPrefix(t, readAll(t, l), 15)
	if l.LastZxid() != 15 {
		t.Fatalf("last %d", l.LastZxid())
	}
}

// AppendRecords logs encoded txns as they are, under the record's zxid,
// and reads them back like appended txns.
func TestAppendRecords(t *testing.T) {
	l, err := OpenLog(LogOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	enc := func(x tree.Txn) []byte {
		var w jute.Writer
		x.Encode(&w)
		return w.B
	}
	recs := []Record{
		{Zxid: 5, Payload: enc(tree.Txn{Zxid: 5, Type: jute.OpCreate, Path: "/a", ACL: tree.OpenACLUnsafe})},
		// The encoding's zxid (0 here) gives way to the record's.
		{Zxid: 6, Payload: enc(tree.Txn{Type: jute.OpSetData, Path: "/a", Data: []byte("x"), Version: 1})},
	}
	if err := l.AppendRecords(recs); err != nil {
		t.Fatal(err)
	}
	var got []tree.Txn
	if err := l.Read(1, 10, func(x *tree.Txn) error { got = append(got, *x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Zxid != 5 || got[0].Path != "/a" || got[1].Zxid != 6 || string(got[1].Data) != "x" {
		t.Fatalf("read back %+v", got)
	}
	if err := l.AppendRecords([]Record{{Zxid: 6, Payload: recs[1].Payload}}); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("a record at the last zxid: %v", err)
	}
	if err := l.AppendRecords([]Record{{Zxid: 7, Payload: []byte("short")}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("a short payload: %v", err)
	}
	if l.LastZxid() != 6 {
		t.Fatalf("last zxid %d after refused appends", l.LastZxid())
	}
}
