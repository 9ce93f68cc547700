package engine

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/klauspost/compress/zstd"

	"zkd/netio/jute"
	"zkd/tree"
	"zkd/tree/treetest"
)

// snapHistory returns n random transactions (treetest.History).
func snapHistory(t testing.TB, rng *rand.Rand, n, dataBytes int) []tree.Txn {
	t.Helper()
	return treetest.History(rng, n, dataBytes)
}

// snapTree applies txns to a fresh tree.
func snapTree(txns []tree.Txn) *tree.Tree {
	t := tree.New()
	for i := range txns {
		t.Apply(&txns[i], nil)
	}
	return t
}

// snapReplay applies the txns after start to t, as recovery does.
func snapReplay(t *tree.Tree, start int64, txns []tree.Txn) {
	for i := range txns {
		if txns[i].Zxid > start {
			t.Apply(&txns[i], nil)
		}
	}
}

// snapNoLock is withReadLock for a tree nobody else touches.
func snapNoLock(f func()) { f() }

// snapMemDir returns a crashable in-memory FS holding dir, made durable.
func snapMemDir(t testing.TB, dir string) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewCrashableMem()
	if err := mem.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := snapSyncDir(mem, "/"); err != nil {
		t.Fatal(err)
	}
	return mem
}

// snapLogger returns a logger writing text into a buffer.
func snapLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func snapWrite(t testing.TB, fs vfs.FS, dir string, tr *tree.Tree, chunk int) string {
	t.Helper()
	name, start, err := WriteSnapshot(fs, dir, tr, snapNoLock, chunk)
	if err != nil {
		t.Fatal(err)
	}
	if start != tr.LastZxid() || name != SnapshotName(start) {
		t.Fatalf("wrote %s start %#x, tree at %#x", name, start, tr.LastZxid())
	}
	return name
}

func snapLoad(t testing.TB, fs vfs.FS, dir string, logger *slog.Logger) (*tree.Tree, int64, string) {
	t.Helper()
	tr, start, name, err := LoadNewestSnapshot(fs, dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if tr.LastZxid() != start {
		t.Fatalf("loaded tree at %#x, start %#x", tr.LastZxid(), start)
	}
	return tr, start, name
}

func TestSnapshotName(t *testing.T) {
	for _, zxid := range []int64{0, 1, 0x500000001, 1<<63 - 1} {
		name := SnapshotName(zxid)
		if len(name) != len("snapshot.")+16 {
			t.Fatalf("%s: not 16 hex digits", name)
		}
		if got, ok := parseSnapshotName(name); !ok || got != zxid {
			t.Fatalf("parse %s: %#x %v", name, got, ok)
		}
	}
	if SnapshotName(0x500000001) != "snapshot.0000000500000001" {
		t.Fatalf("name %s", SnapshotName(0x500000001))
	}
	for _, bad := range []string{"snapshot.0000000500000001.tmp", "snapshot.500000001", "snapshot.000000050000000g",
		"snapshot.8000000000000000", "log.0000000500000001", "snapshot.+000000500000001"} {
		if _, ok := parseSnapshotName(bad); ok {
			t.Fatalf("%s parsed", bad)
		}
	}
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	txns := snapHistory(t, rand.New(rand.NewPCG(1, 2)), 400, 200)
	want := snapTree(txns)
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (vfs.FS, string)
	}{
		{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "snap" }},
		{"disk", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }},
	} {
		for _, chunk := range []int{1, 7, 0} {
			t.Run(fmt.Sprintf("%s/chunk=%d", tc.name, chunk), func(t *testing.T) {
				fs, dir := tc.fs(t)
				if err := fs.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				name := snapWrite(t, fs, dir, want, chunk)
				got, start, gotName := snapLoad(t, fs, dir, nil)
				if gotName != name || start != want.LastZxid() {
					t.Fatalf("loaded %s at %#x, wrote %s at %#x", gotName, start, name, want.LastZxid())
				}
				if got.Digest() != want.Digest() || got.NodeCount() != want.NodeCount() || got.DataBytes() != want.DataBytes() {
					t.Fatalf("digest %x nodes %d bytes %d, want %x %d %d", got.Digest(), got.NodeCount(), got.DataBytes(),
						want.Digest(), want.NodeCount(), want.DataBytes())
				}
				// No write since: the same name again, replaced whole.
				if again := snapWrite(t, fs, dir, want, chunk); again != name {
					t.Fatalf("second snapshot %s, first %s", again, name)
				}
				if got, _, _ := snapLoad(t, fs, dir, nil); got.Digest() != want.Digest() {
					t.Fatalf("replaced snapshot differs")
				}
				names, _ := fs.List(dir)
				if len(names) != 1 || names[0] != name {
					t.Fatalf("dir holds %v", names)
				}
			})
		}
	}
}

// TestSnapshotWhileWriting runs WriteSnapshot against a tree that another
// goroutine keeps applying to, under a real RWMutex (run with -race),
// then restores and replays the log after the snapshot's start zxid.
func TestSnapshotWhileWriting(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			txns := snapHistory(t, rng, 1500, 64)
			live := snapTree(txns[:500])
			withReadLock, wait := treetest.ApplyBeside(live, txns[500:])
			fs := vfs.NewMem()
			name, start, err := WriteSnapshot(fs, "", live, withReadLock, 2)
			wait()
			if err != nil {
				t.Fatal(err)
			}
			got, gotStart, gotName := snapLoad(t, fs, "", nil)
			if gotName != name || gotStart != start {
				t.Fatalf("loaded %s, wrote %s", gotName, name)
			}
			snapReplay(got, start, txns)
			if got.Digest() != live.Digest() {
				t.Fatalf("restored from %#x and replayed: digest %x, live %x", start, got.Digest(), live.Digest())
			}
		})
	}
}

// TestLoadSkipsBadSnapshots damages the newest of three snapshots in every
// way a disk or a crash can, and checks that LoadNewestSnapshot falls back
// to the one before, with a warning naming the file and the reason.
func TestLoadSkipsBadSnapshots(t *testing.T) {
	txns := snapHistory(t, rand.New(rand.NewPCG(4, 5)), 600, 300)
	cuts := []int{200, 400, 600}
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		reason string
	}{
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, "no trailer"},
		{"trailer cut", func(b []byte) []byte { return b[:len(b)-1] }, "no trailer"},
		{"header only", func(b []byte) []byte { return b[:snapHeaderBytes] }, "truncated"},
		{"empty", func(b []byte) []byte { return nil }, "truncated"},
		{"bad magic", func(b []byte) []byte { b[0] ^= 1; return b }, "bad magic"},
		{"header bit flip", func(b []byte) []byte { b[15] ^= 1; return b }, "header checksum"},
		{"body bit flip", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }, "body checksum"},
		{"body zeroed block", func(b []byte) []byte {
			clear(b[snapHeaderBytes : snapHeaderBytes+min(4096, len(b)-snapHeaderBytes-snapTrailerBytes)])
			return b
		}, "body checksum"},
		{"trailer crc flip", func(b []byte) []byte { b[len(b)-snapTrailerBytes+9] ^= 1; return b }, "body checksum"},
		{"trailer length", func(b []byte) []byte { b[len(b)-snapTrailerBytes+7] ^= 1; return b }, "body bytes"},
		{"appended garbage", func(b []byte) []byte { return append(b, "garbage"...) }, "no trailer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			var names []string
			for _, cut := range cuts {
				names = append(names, snapWrite(t, fs, "", snapTree(txns[:cut]), 0))
			}
			newest := names[2]
			b := snapReadFile(t, fs, newest)
			snapWriteFile(t, fs, newest, tc.damage(b))
			logger, logs := snapLogger()
			got, start, name := snapLoad(t, fs, "", logger)
			if name != names[1] || start != txns[cuts[1]-1].Zxid {
				t.Fatalf("loaded %s at %#x, want %s", name, start, names[1])
			}
			snapReplay(got, start, txns)
			if want := snapTree(txns); got.Digest() != want.Digest() {
				t.Fatalf("fallback plus replay: digest differs")
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "file="+newest) || !strings.Contains(out, tc.reason) {
				t.Fatalf("log %q: want a warning naming %s and %q", out, newest, tc.reason)
			}
		})
	}
}

// TestLoadBadBody: a file whose checks pass but whose body does not
// decompress or decode (a bug, or bad memory on the writer) is skipped.
func TestLoadBadBody(t *testing.T) {
	fs := vfs.NewMem()
	good := snapWrite(t, fs, "", tree.New(), 0)
	for _, tc := range []struct{ name, body, reason string }{
		{"not zstd", "this is not a zstd stream", "body:"},
		{"zstd of garbage", "", "body:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if len(body) == 0 {
				var buf bytes.Buffer
				enc, err := zstd.NewWriter(&buf)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := enc.Write([]byte("garbage, not a tree")); err != nil {
					t.Fatal(err)
				}
				if err := enc.Close(); err != nil {
					t.Fatal(err)
				}
				body = buf.Bytes()
			}
			const zxid = 0x900
			var file []byte
			file = append(file, snapHeader(zxid)...)
			file = append(file, body...)
			file = append(file, snapTrailer(uint64(len(body)), crc32.Checksum(body, snapCRC), zxid)...)
			snapWriteFile(t, fs, SnapshotName(zxid), file)
			logger, logs := snapLogger()
			if _, _, name := snapLoad(t, fs, "", logger); name != good {
				t.Fatalf("loaded %s", name)
			}
			if !strings.Contains(logs.String(), tc.reason) {
				t.Fatalf("log %q", logs.String())
			}
		})
	}
	// A name whose zxid is not the file's is corrupt too.
	b := snapReadFile(t, fs, good)
	snapWriteFile(t, fs, SnapshotName(0x1000), b)
	logger, logs := snapLogger()
	if _, _, name := snapLoad(t, fs, "", logger); name != good || !strings.Contains(logs.String(), "header zxid") {
		t.Fatalf("loaded %s; log %q", name, logs.String())
	}
}

func TestLoadNoSnapshot(t *testing.T) {
	fs := vfs.NewMem()
	for _, dir := range []string{"", "missing/dir"} {
		got, start, name, err := LoadNewestSnapshot(fs, dir, nil)
		if err != nil || start != 0 || name != "" || got.Digest() != tree.New().Digest() {
			t.Fatalf("%q: %v %#x %q", dir, err, start, name)
		}
	}
	// A .tmp left by a crash is not a snapshot; nor are other files.
	snapWriteFile(t, fs, SnapshotName(5)+snapTmpSuffix, []byte("half a snapshot"))
	snapWriteFile(t, fs, "notes.txt", []byte("hello"))
	logger, logs := snapLogger()
	if _, start, name := snapLoad(t, fs, "", logger); start != 0 || name != "" || logs.Len() != 0 {
		t.Fatalf("loaded %q at %#x; log %q", name, start, logs.String())
	}
	// Only bad snapshots: a fresh tree and a warning for each.
	snapWriteFile(t, fs, SnapshotName(7), []byte("junk"))
	if _, start, name := snapLoad(t, fs, "", logger); start != 0 || name != "" || !strings.Contains(logs.String(), SnapshotName(7)) {
		t.Fatalf("loaded %q at %#x; log %q", name, start, logs.String())
	}
}

// TestSnapshotCrash crashes the FS at every operation WriteSnapshot makes
// (and keeps a random share of what was not synced) while an older
// snapshot exists: every crashed state must load either the older
// snapshot or the new one, whole, never a torn one, and once
// WriteSnapshot has returned the new one must survive a crash that drops
// everything unsynced.
func TestSnapshotCrash(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 6))
			// Data that does not compress, so the body spans many 4 KB
			// blocks and several writes of the file buffer.
			txns := snapHistory(t, rng, 900, 8<<10)
			mem := snapMemDir(t, "snap")
			old := snapTree(txns[:300])
			oldName := snapWrite(t, mem, "snap", old, 0)
			cur := snapTree(txns)
			var clones []*vfs.MemFS
			var ops []errorfs.Op
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				for _, pct := range []int{0, 30, 100} {
					clones = append(clones, mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng}))
					ops = append(ops, op)
				}
				return nil
			})
			newName, _, err := WriteSnapshot(errorfs.Wrap(mem, inj), "snap", cur, snapNoLock, 16)
			if err != nil {
				t.Fatal(err)
			}
			clones = append(clones, mem.CrashClone(vfs.CrashCloneCfg{}))
			ops = append(ops, errorfs.Op{Path: "after return"})
			sawNew := 0
			for i, c := range clones {
				got, _, name := snapLoad(t, c, "snap", nil)
				switch name {
				case oldName:
					if got.Digest() != old.Digest() {
						t.Fatalf("crash %d (%v %s): old snapshot loads with another digest", i, ops[i].Kind, ops[i].Path)
					}
				case newName:
					sawNew++
					if got.Digest() != cur.Digest() {
						t.Fatalf("crash %d (%v %s): new snapshot loads with another digest", i, ops[i].Kind, ops[i].Path)
					}
				default:
					t.Fatalf("crash %d (%v %s): loaded %q", i, ops[i].Kind, ops[i].Path, name)
				}
				if i == len(clones)-1 && name != newName {
					t.Fatalf("the snapshot WriteSnapshot returned is lost in a crash")
				}
			}
			t.Logf("%d crash points, new snapshot loaded at %d", len(clones), sawNew)
		})
	}
}

// TestWriteSnapshotErrors fails each file operation of WriteSnapshot in
// turn: it returns the error, leaves no .tmp behind (unless removing it
// failed too), and the older snapshot still loads.
func TestWriteSnapshotErrors(t *testing.T) {
	txns := snapHistory(t, rand.New(rand.NewPCG(7, 8)), 300, 4<<10)
	cur := snapTree(txns)
	// A clean run lists the operations; the rename is the last one
	// before which a failure must leave the old snapshot in charge.
	var clean []errorfs.Op
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error { clean = append(clean, op); return nil })
	if _, _, err := WriteSnapshot(errorfs.Wrap(vfs.NewMem(), inj), "", cur, snapNoLock, 0); err != nil {
		t.Fatal(err)
	}
	renameAt := -1
	for i, op := range clean {
		if op.Kind == errorfs.OpRename {
			renameAt = i
		}
	}
	if renameAt < 0 {
		t.Fatalf("no rename among %v", clean)
	}
	for i := range clean {
		fs := vfs.NewMem()
		oldName := snapWrite(t, fs, "", snapTree(txns[:100]), 0)
		n := 0
		var failed errorfs.Op
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			n++
			if n-1 == i {
				failed = op
				return errorfs.ErrInjected
			}
			return nil
		})
		name, _, err := WriteSnapshot(errorfs.Wrap(fs, inj), "", cur, snapNoLock, 0)
		if !errors.Is(err, errorfs.ErrInjected) {
			t.Fatalf("op %d (%v %s) failed: WriteSnapshot returned %q, %v", i, failed.Kind, failed.Path, name, err)
		}
		names, _ := fs.List("")
		for _, nm := range names {
			if strings.HasSuffix(nm, snapTmpSuffix) {
				t.Fatalf("op %d (%v) failed: %s left behind", i, failed.Kind, nm)
			}
		}
		got, _, loaded := snapLoad(t, fs, "", nil)
		if loaded == oldName {
			continue
		}
		// Only a failure after the rename (the directory fsync) leaves
		// the new file, and it is whole.
		if i <= renameAt || got.Digest() != cur.Digest() {
			t.Fatalf("op %d (%v %s) failed: loaded %s", i, failed.Kind, failed.Path, loaded)
		}
	}
}

func TestPurgeSnapshots(t *testing.T) {
	txns := snapHistory(t, rand.New(rand.NewPCG(9, 10)), 240, 32)
	fs := vfs.NewMem()
	var names []string
	for cut := 40; cut <= 240; cut += 40 {
		names = append(names, snapWrite(t, fs, "", snapTree(txns[:cut]), 0))
	}
	zxidOf := func(name string) int64 {
		z, ok := parseSnapshotName(name)
		if !ok {
			t.Fatalf("%s", name)
		}
		return z
	}
	// names: six snapshots, oldest first. Damage the second newest: it is
	// not counted, and as it is newer than the oldest kept one it stays.
	snapWriteFile(t, fs, names[4], []byte("torn"))
	snapWriteFile(t, fs, SnapshotName(1)+snapTmpSuffix, []byte("stray"))
	snapWriteFile(t, fs, "other", []byte("not ours"))
	oldest, err := PurgeSnapshots(fs, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if oldest != zxidOf(names[2]) {
		t.Fatalf("oldest kept %#x, want %#x (%s)", oldest, zxidOf(names[2]), names[2])
	}
	snapWant(t, fs, "other", names[2], names[3], names[4], names[5])
	// retain below 1 is 1; the damaged one is now older than the kept
	// one and goes.
	if oldest, err = PurgeSnapshots(fs, "", 0); err != nil || oldest != zxidOf(names[5]) {
		t.Fatalf("retain 0: %#x %v", oldest, err)
	}
	snapWant(t, fs, "other", names[5])
	// More to keep than there are: nothing goes.
	if oldest, err = PurgeSnapshots(fs, "", 10); err != nil || oldest != zxidOf(names[5]) {
		t.Fatalf("retain 10: %#x %v", oldest, err)
	}
	snapWant(t, fs, "other", names[5])
	// No valid snapshot at all: keep the whole log (0), remove nothing.
	snapWriteFile(t, fs, names[5], []byte("torn"))
	if oldest, err = PurgeSnapshots(fs, "", 3); err != nil || oldest != 0 {
		t.Fatalf("none valid: %#x %v", oldest, err)
	}
	snapWant(t, fs, "other", names[5])
	if oldest, err = PurgeSnapshots(fs, "missing", 3); err != nil || oldest != 0 {
		t.Fatalf("missing dir: %#x %v", oldest, err)
	}
}

// TestPurgeSnapshotsReadError: a read error (not a failed check) stops the
// purge before anything is removed.
func TestPurgeSnapshotsReadError(t *testing.T) {
	txns := snapHistory(t, rand.New(rand.NewPCG(11, 12)), 100, 32)
	mem := vfs.NewMem()
	var names []string
	for cut := 20; cut <= 100; cut += 20 {
		names = append(names, snapWrite(t, mem, "", snapTree(txns[:cut]), 0))
	}
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileReadAt && op.Path == names[3] {
			return errorfs.ErrInjected
		}
		return nil
	})
	if _, err := PurgeSnapshots(errorfs.Wrap(mem, inj), "", 2); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("purge: %v", err)
	}
	snapWant(t, mem, names...)
}

func TestSnapCountJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, snapCount := range []int{100000, 1001, 10, 3, 2} {
		seen := make(map[int]bool)
		lo, hi := snapCount, 0
		for i := 0; i < 2000; i++ {
			v := SnapCountJitter(snapCount, rng)
			if v < snapCount/2 || v >= snapCount/2+snapCount/2 {
				t.Fatalf("snapCount %d: %d outside [%d, %d)", snapCount, v, snapCount/2, snapCount/2*2)
			}
			seen[v] = true
			lo, hi = min(lo, v), max(hi, v)
		}
		if snapCount >= 10 && (len(seen) < min(snapCount/2, 100) || hi-lo < snapCount/2*8/10) {
			t.Fatalf("snapCount %d: %d distinct values in [%d, %d]: not spread", snapCount, len(seen), lo, hi)
		}
	}
	for _, small := range []int{1, 0, -5} {
		if v := SnapCountJitter(small, rng); v != 1 {
			t.Fatalf("snapCount %d: %d, want 1 (taken as 2)", small, v)
		}
	}
}

// BenchmarkSnapshot1M writes and restores a snapshot of 1,000,000 znodes
// of 100 bytes (1000 parents of 1000 children) on the real disk, and
// reports the write time, the file size and the restore time. data=random
// is the worst case for zstd (nothing to compress, every byte looked at);
// data=json is the kind of value coordination data usually holds.
func BenchmarkSnapshot1M(b *testing.B) {
	for _, kind := range []string{"random", "json"} {
		b.Run("data="+kind, func(b *testing.B) { benchmarkSnapshot(b, 1000, 1000, kind) })
	}
}

func benchmarkSnapshot(b *testing.B, parents, children int, kind string) {
	const dataBytes = 100
	rng := rand.New(rand.NewPCG(1, 1))
	data := func(p, c int) []byte {
		d := make([]byte, dataBytes)
		if kind == "random" {
			for i := range d {
				d[i] = byte(rng.Uint32())
			}
			return d
		}
		s := fmt.Sprintf(`{"host":"10.%d.%d.%d","port":%d,"weight":%d,"state":"up","v":%d}`,
			p%256, c%256, rng.IntN(256), 2000+rng.IntN(8000), rng.IntN(100), rng.Uint32())
		copy(d, s)
		for i := len(s); i < len(d); i++ {
			d[i] = ' '
		}
		return d
	}
	tr := tree.New()
	zxid := int64(0)
	apply := func(x tree.Txn) {
		zxid++
		x.Zxid, x.Time = zxid, 1_700_000_000_000+zxid
		if res, _ := tr.Apply(&x, nil); res.Err != jute.ErrOK {
			b.Fatalf("%s: %v", x.Path, res.Err)
		}
	}
	for p := 0; p < parents; p++ {
		parent := fmt.Sprintf("/p%04d", p)
		apply(tree.Txn{Type: jute.OpCreate, Path: parent, ACL: tree.OpenACLUnsafe, Version: int32(p + 2)})
		for c := 0; c < children; c++ {
			apply(tree.Txn{Type: jute.OpCreate, Path: fmt.Sprintf("%s/c%04d", parent, c), Data: data(p, c), ACL: tree.OpenACLUnsafe, Version: int32(c + 1)})
		}
	}
	want := tr.Digest()
	dir := b.TempDir()
	var mu sync.RWMutex
	withReadLock := func(f func()) {
		mu.RLock()
		defer mu.RUnlock()
		f()
	}
	b.ResetTimer()
	var writeS, restoreS float64
	var size int64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		name, _, err := WriteSnapshot(vfs.Default, dir, tr, withReadLock, 0)
		if err != nil {
			b.Fatal(err)
		}
		writeS += time.Since(start).Seconds()
		st, err := os.Stat(dir + "/" + name)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
		start = time.Now()
		got, _, _, err := LoadNewestSnapshot(vfs.Default, dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		restoreS += time.Since(start).Seconds()
		b.StopTimer()
		if got.Digest() != want {
			b.Fatal("restored tree differs")
		}
		b.StartTimer()
	}
	b.ReportMetric(writeS/float64(b.N), "snapshot-s")
	b.ReportMetric(float64(size), "bytes-on-disk")
	b.ReportMetric(restoreS/float64(b.N), "restore-s")
}

func snapReadFile(t testing.TB, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func snapWriteFile(t testing.TB, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapWant fails unless dir "" of fs holds exactly names.
func snapWant(t testing.TB, fs vfs.FS, names ...string) {
	t.Helper()
	got, err := fs.List("")
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]bool)
	for _, n := range names {
		want[n] = true
	}
	if len(got) != len(want) {
		t.Fatalf("dir holds %v, want %v", got, names)
	}
	for _, n := range got {
		if !want[n] {
			t.Fatalf("dir holds %v, want %v", got, names)
		}
	}
}
