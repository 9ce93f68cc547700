package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"zkd/engine"
	"zkd/netio/jute"
	"zkd/tree"
)

var openACL = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

const (
	testSession = 0x1000
	testTime    = 1_700_000_000_000 // 2023-11-14T22:13:20Z
)

// history is what makeDataDir logs: zxids 1..5 go into the snapshot,
// 6 and 7 come after it.
func history() []tree.Txn {
	at := func(zxid int64, x tree.Txn) tree.Txn {
		x.Zxid, x.Time, x.Session, x.Cxid = zxid, testTime+zxid, testSession, int32(zxid)
		return x
	}
	return []tree.Txn{
		at(1, tree.Txn{Type: jute.OpCreateSession, Timeout: 30000}),
		at(2, tree.Txn{Type: jute.OpCreate, Path: "/app", Data: []byte("config"), ACL: openACL, Version: 2}),
		at(3, tree.Txn{Type: jute.OpCreate, Path: "/app/lock", Data: []byte("owner"), ACL: openACL, Owner: testSession, Version: 1}),
		at(4, tree.Txn{Type: jute.OpSetData, Path: "/app", Data: bytes.Repeat([]byte("x"), 100), Version: 1}),
		at(5, tree.Txn{Type: jute.OpMulti, Ops: []tree.Txn{
			{Type: jute.OpCheck, Path: "/app", Version: 1},
			{Type: jute.OpCreate, Path: "/app/b", Data: []byte("b"), ACL: openACL, Version: 2},
		}}),
		at(6, tree.Txn{Type: jute.OpSetData, Path: "/app/b", Data: []byte("bb"), Version: 1}),
		at(7, tree.Txn{Type: jute.OpDelete, Path: "/app/lock"}),
	}
}

// makeDataDir builds a data directory as a server would: a log with the
// whole history and a snapshot taken after zxid 5.
func makeDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: dir, NoSync: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	for _, x := range history() {
		if err := s.Log.Append([]tree.Txn{x}); err != nil {
			t.Fatalf("append 0x%x: %v", x.Zxid, err)
		}
		if res, _ := tr.Apply(&x, nil); res.Err != jute.ErrOK {
			t.Fatalf("apply 0x%x: %v", x.Zxid, res.Err)
		}
		if x.Zxid == 5 {
			if _, _, err := engine.WriteSnapshot(nil, filepath.Join(dir, "snapshots"), tr, func(f func()) { f() }, 0); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return dir
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// lineFor returns the one output line that starts with prefix.
func lineFor(t *testing.T, out, prefix string) string {
	t.Helper()
	var found []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			found = append(found, strings.TrimSuffix(l, "\n"))
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one line starting %q, got %q in:\n%s", prefix, found, out)
	}
	return found[0]
}

func TestSnapshot(t *testing.T) {
	dir := makeDataDir(t)
	code, out, errOut := runCmd(t, "-data", dir, "-show-data")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{
		"snapshot " + filepath.Join(dir, "snapshots", engine.SnapshotName(5)),
		"startZxid 0x5",
		"sessions 1",
		"/app len=100 version=1 cversion=2 aversion=0 czxid=0x2 mzxid=0x4 pzxid=0x5 ephemeralOwner=0x0 acl=[world:anyone:cdrwa] data=\"" + strings.Repeat("x", 64) + "\"...",
		"/app/b len=1 version=0 cversion=0 aversion=0 czxid=0x5 mzxid=0x5 pzxid=0x5 ephemeralOwner=0x0 acl=[world:anyone:cdrwa] data=\"b\"",
		"/app/lock len=5 version=0 cversion=0 aversion=0 czxid=0x3 mzxid=0x3 pzxid=0x3 ephemeralOwner=0x1000 acl=[world:anyone:cdrwa] data=\"owner\"",
	} {
		lineFor(t, out, want)
	}
	// Sorted depth-first: / first, then /app's subtree, then /zookeeper's.
	var paths []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "/") {
			paths = append(paths, strings.Fields(l)[0])
		}
	}
	nodes := lineFor(t, out, "nodes ")
	if want := fmt.Sprintf("nodes %d", len(paths)); nodes != want {
		t.Errorf("%q, but %d node lines", nodes, len(paths))
	}
	want := []string{"/", "/app", "/app/b", "/app/lock", "/zookeeper"}
	if len(paths) < len(want) || strings.Join(paths[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("node order %q, want it to start %q", paths, want)
	}
	// Without -show-data no data is printed.
	_, out, _ = runCmd(t, "-data", dir, "-snapshot")
	if strings.Contains(out, "data=") {
		t.Errorf("data printed without -show-data:\n%s", out)
	}
}

func TestSnapshotSkipsCorrupt(t *testing.T) {
	dir := makeDataDir(t)
	// A newer snapshot that fails its checks is skipped, and said so.
	bad := filepath.Join(dir, "snapshots", engine.SnapshotName(7))
	if err := os.WriteFile(bad, []byte("ZKDSNAP1 but torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "-data", dir)
	if code != exitOK || !strings.Contains(out, "startZxid 0x5") || !strings.Contains(errOut, engine.SnapshotName(7)) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// With only corrupt snapshots there is nothing to print: an error.
	if err := os.Remove(filepath.Join(dir, "snapshots", engine.SnapshotName(5))); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, "-data", dir)
	if code != exitError || !strings.Contains(errOut, "no valid snapshot") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
}

// TestSnapshotFile: -file prints the named snapshot even when a newer
// one exists, and reports a named file that fails its checks.
func TestSnapshotFile(t *testing.T) {
	dir := makeDataDir(t)
	snaps := filepath.Join(dir, "snapshots")
	old := filepath.Join(snaps, engine.SnapshotName(5))
	// A newer valid snapshot, taken after the whole history.
	_, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range history() {
		tr.Apply(&x, nil)
	}
	if _, _, err := engine.WriteSnapshot(nil, snaps, tr, func(f func()) { f() }, 0); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "-file", old)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lineFor(t, out, "snapshot "+old)
	lineFor(t, out, "startZxid 0x5")
	lineFor(t, out, "/app/lock ") // deleted at zxid 7, after this snapshot

	bad := filepath.Join(snaps, engine.SnapshotName(9))
	if err := os.WriteFile(bad, []byte("ZKDSNAP1 but torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bad, filepath.Join(snaps, "not-a-snapshot"), filepath.Join(snaps, engine.SnapshotName(11))} {
		if code, _, errOut := runCmd(t, "-file", path); code != exitError || errOut == "" {
			t.Errorf("-file %s: exit %d, stderr %q", path, code, errOut)
		}
	}
	if code, _, _ := runCmd(t, "-file", old, "-log"); code != exitUsage {
		t.Errorf("-file with -log: exit %d, want usage", code)
	}
}

func TestLog(t *testing.T) {
	dir := makeDataDir(t)
	before := hashDir(t, filepath.Join(dir, "log"))
	code, out, errOut := runCmd(t, "-data", dir, "-log")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if after := hashDir(t, filepath.Join(dir, "log")); after != before {
		t.Errorf("the log directory changed:\nbefore %s\nafter  %s", before, after)
	}
	lineFor(t, out, "firstZxid 0x1")
	lineFor(t, out, "lastZxid 0x7")
	for _, want := range []string{
		"0x1 2023-11-14T22:13:20.001Z session=0x1000 cxid=1 createSession timeout=30000",
		"0x2 2023-11-14T22:13:20.002Z session=0x1000 cxid=2 create /app len=6 version=2",
		"0x3 2023-11-14T22:13:20.003Z session=0x1000 cxid=3 create /app/lock len=5 version=1 owner=0x1000",
		"0x4 2023-11-14T22:13:20.004Z session=0x1000 cxid=4 setData /app len=100 version=1",
		"0x5 2023-11-14T22:13:20.005Z session=0x1000 cxid=5 multi ops=2",
		"  check /app version=1",
		"  create /app/b len=1 version=2",
		"0x7 2023-11-14T22:13:20.007Z session=0x1000 cxid=7 delete /app/lock",
	} {
		lineFor(t, out, want)
	}

	// A range, in hex and in decimal.
	for _, args := range [][]string{{"-from", "0x6", "-to", "0x6"}, {"-from", "6", "-to", "6"}} {
		code, out, errOut := runCmd(t, append([]string{"-data", dir, "-log"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d, stderr %s", args, code, errOut)
		}
		lineFor(t, out, "0x6 ")
		if strings.Contains(out, "0x5 ") || strings.Contains(out, "0x7 ") {
			t.Errorf("%v: records outside the range:\n%s", args, out)
		}
	}
}

func TestLogCorrupt(t *testing.T) {
	dir := makeDataDir(t)
	// Overwrite zxid 4's record with bytes whose checksum fails, straight
	// through pebble, as a disk fault would leave it.
	db, err := pebble.Open(filepath.Join(dir, "log"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64(nil, 4)
	if err := db.Set(key, []byte("\x00\x00\x00\x00garbage"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "-data", dir, "-log")
	if code != exitError {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitError, errOut)
	}
	lineFor(t, out, "0x3 ") // records before the bad one are printed
	if strings.Contains(out, "0x5 ") {
		t.Errorf("records after the corrupt one printed:\n%s", out)
	}
	if !strings.Contains(errOut, "zxid 0x4") || !strings.Contains(errOut, "corrupt") {
		t.Errorf("stderr %q does not name the corrupt zxid", errOut)
	}
}

func TestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	noStore := t.TempDir()
	if err := os.Mkdir(filepath.Join(noStore, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no args", nil, exitUsage, "-data or -file is required"},
		{"bad flag", []string{"-bogus"}, exitUsage, "-bogus"},
		{"bad from", []string{"-data", empty, "-log", "-from", "0xzz"}, exitUsage, "bad zxid"},
		{"both modes", []string{"-data", empty, "-log", "-snapshot"}, exitUsage, "exclusive"},
		{"missing dir snapshot", []string{"-data", missing}, exitError, "does not exist"},
		{"missing dir log", []string{"-data", missing, "-log"}, exitError, "does not exist"},
		{"no snapshots dir", []string{"-data", empty}, exitError, "no snapshot directory"},
		{"no log dir", []string{"-data", empty, "-log"}, exitError, "no log directory"},
		{"log not pebble", []string{"-data", noStore, "-log"}, exitError, "no pebble store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, want %d; stderr %q, want it to hold %q", code, tc.code, errOut, tc.msg)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(empty, "log")); err == nil {
		t.Errorf("a log directory was created in %s", empty)
	}
}

func TestParseZxid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"10", 10, true}, {"010", 10, true}, {"0x10", 16, true}, {"0X1f", 31, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"0x8000000000000000", 0, false},
		{"-1", 0, false}, {"", 0, false}, {"0x", 0, false}, {"1f", 0, false},
	} {
		got, err := parseZxid(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseZxid(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// quietLogger keeps pebble's recovery chatter out of the test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// hashDir returns a digest of every file name and content under dir.
func hashDir(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
