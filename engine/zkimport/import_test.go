package zkimport

import (
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/engine"
	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
	"zkd/tree"
)

const (
	s1 = 0x100000aa
	s2 = 0x100000bb
)

// history is a ZooKeeper history: records with zxids 1..n, every kind of
// transaction, as payloads.
func history() [][]byte {
	h := func(zxid int64, session int64, op jute.Op) zktest.Header {
		return zktest.Header{Session: session, Cxid: int32(zxid), Zxid: zxid, Time: 1700000000000 + zxid, Type: op}
	}
	return [][]byte{
		zktest.Txn(h(1, s1, jute.OpCreateSession), zktest.CreateSession(30000), nil),
		zktest.Txn(h(2, s1, jute.OpCreate), zktest.Create("/a", []byte("a"), testACL, false, 1), nil),
		zktest.Txn(h(3, s1, jute.OpCreate2), zktest.Create("/a/b", nil, testACL, true, 1), nil),
		zktest.Txn(h(4, s1, jute.OpSetData), zktest.SetData("/a", []byte("a2"), 1), nil),
		zktest.Txn(h(5, s2, jute.OpCreateSession), zktest.CreateSession(6000), nil),
		zktest.Txn(h(6, s1, jute.OpCreateContainer), zktest.CreateContainer("/c", []byte{}, testACL, 2), nil),
		zktest.Txn(h(7, s1, jute.OpCreate), zktest.Create("/c/x", []byte("x"), testACL, false, 1), nil),
		zktest.Txn(h(8, s1, jute.OpCreateTTL), zktest.CreateTTL("/t", []byte("t"), testACL, 3, 5000), nil),
		zktest.Txn(h(9, s1, jute.OpSetACL), zktest.SetACL("/a", digestACL, 1), nil),
		zktest.Txn(h(10, s1, jute.OpMulti), zktest.Multi(
			zktest.Sub{Type: jute.OpCreate, Body: zktest.Create("/m", []byte("m"), testACL, false, 4)},
			zktest.Sub{Type: jute.OpSetData, Body: zktest.SetData("/a", []byte("a3"), 2)},
			zktest.Sub{Type: jute.OpCheck, Body: zktest.Check("/a", 2)},
			zktest.Sub{Type: jute.OpDelete, Body: zktest.Delete("/c/x")},
		), nil),
		zktest.Txn(h(11, s1, jute.OpMulti), zktest.Multi(
			zktest.Sub{Type: jute.OpCreate, Body: zktest.Create("/n", nil, testACL, false, 5)},
			zktest.Sub{Type: jute.OpError, Body: zktest.Error(jute.ErrNoNode)},
		), nil),
		zktest.Txn(h(12, s1, jute.OpError), zktest.Error(jute.ErrNodeExists), nil),
		zktest.Txn(h(13, s2, jute.OpCreate), zktest.Create("/e2", nil, testACL, true, 5), nil),
		zktest.Txn(h(14, s2, jute.OpCloseSession), zktest.CloseSession("/e2"), nil),
		zktest.Txn(h(15, s1, jute.OpCreate), zktest.Create("/a/seq0000000002", nil, testACL, false, 2), nil),
		zktest.Txn(h(16, s1, jute.OpDelete), zktest.Delete("/t"), nil),
		zktest.Txn(h(17, 0, jute.OpReconfig), zktest.SetData("/zookeeper/config", []byte("server.1=x"), 1), nil),
		zktest.Txn(h(18, s1, jute.OpCheck), zktest.Check("/a", 2), nil),
	}
}

// reference applies the first n records of history to ZooKeeper's
// initial tree.
func reference(t *testing.T, n int) *tree.Tree {
	t.Helper()
	tr := tree.New()
	for _, p := range history()[:n] {
		e, err := DecodeEntry(p)
		if err != nil {
			t.Fatal(err)
		}
		tr.Apply(&e.Txn, nil)
	}
	return tr
}

// snapshotOf writes tr as ZooKeeper would, with the ACL cache references
// ZooKeeper uses (-1 for world:anyone with every permission).
func snapshotOf(tr *tree.Tree) *zktest.Snapshot {
	s := &zktest.Snapshot{DBID: -1}
	for id, timeout := range tr.Sessions() {
		s.Sessions = append(s.Sessions, zktest.Session{ID: id, Timeout: timeout})
	}
	refs := map[string]int64{}
	var walk func(path string)
	walk = func(path string) {
		n, _ := tr.Get(path)
		acl := n.ACL()
		key := fmt.Sprint(acl)
		ref, ok := refs[key]
		switch {
		case ok:
		case reflect.DeepEqual(acl, openACLUnsafe):
			ref = -1
		default:
			ref = int64(len(s.ACLs) + 1)
			s.ACLs = append(s.ACLs, zktest.ACLEntry{Ref: ref, List: acl})
		}
		refs[key] = ref
		s.Nodes = append(s.Nodes, zktest.Node{Path: path, Data: n.Data(), ACLRef: ref, Stat: n.Persisted()})
		for _, c := range n.Children(nil) {
			walk(tree.JoinPath(path, c))
		}
	}
	walk("/")
	return s
}

// zkDir is a ZooKeeper version-2 directory in memory.
type zkDir struct {
	fs  vfs.FS
	dir string
}

func newZKDir(t *testing.T) *zkDir {
	fs := vfs.NewMem()
	d := &zkDir{fs: fs, dir: "/zk/version-2"}
	if err := fs.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *zkDir) write(t *testing.T, name string, b []byte) {
	t.Helper()
	f, err := d.fs.Create(d.fs.PathJoin(d.dir, name), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// logFile frames records from..to (1-based, inclusive) of history.
func logFile(from, to int) []byte {
	var recs [][]byte
	for _, p := range history()[from-1 : to] {
		recs = append(recs, zktest.Record(p))
	}
	return zktest.Log(512, recs...)
}

// standard is ZooKeeper's layout after 18 transactions with snapshots
// at 0 and 8 (the latter fuzzy: it holds the tree as of zxid 10) and the
// log rolled after each.
func standard(t *testing.T) *zkDir {
	d := newZKDir(t)
	d.write(t, "snapshot.0", snapshotOf(tree.New()).Bytes())
	d.write(t, "log.1", logFile(1, 9))
	fuzzy := snapshotOf(reference(t, 10))
	fuzzy.Digest = &zktest.Digest{Zxid: 10, Version: 2, Value: Digest(reference(t, 10), false)}
	d.write(t, "snapshot.8", fuzzy.Bytes())
	d.write(t, "log.a", logFile(10, 18))
	return d
}

func TestLoad(t *testing.T) {
	full := reference(t, 18)
	tests := []struct {
		name     string
		setup    func(t *testing.T, d *zkDir)
		snapshot string
		applied  int
		skipped  []string
		last     int64 // 18 when 0
		err      string
	}{
		{name: "snapshot and logs", snapshot: "snapshot.8", applied: 10},
		{name: "newest snapshot corrupt", setup: func(t *testing.T, d *zkDir) {
			b := snapshotOf(reference(t, 16)).Bytes()
			b[len(b)/2] ^= 1
			d.write(t, "snapshot.10", b)
		}, snapshot: "snapshot.8", applied: 10, skipped: []string{"snapshot.10"}},
		{name: "newest snapshot cut", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.10", snapshotOf(reference(t, 16)).Bytes()[:100])
		}, snapshot: "snapshot.8", applied: 10, skipped: []string{"snapshot.10"}},
		{name: "unknown compression", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.10.lz4", snapshotOf(reference(t, 16)).Bytes())
		}, snapshot: "snapshot.8", applied: 10, skipped: []string{"snapshot.10.lz4"}},
		{name: "gzip", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.10.gz", zktest.Gzip(snapshotOf(reference(t, 16)).Bytes()))
		}, snapshot: "snapshot.10.gz", applied: 2},
		{name: "snappy", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.10.snappy", zktest.Snappy(snapshotOf(reference(t, 16)).Bytes(), 100))
		}, snapshot: "snapshot.10.snappy", applied: 2},
		{name: "leftover tmp snapshot", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.10.tmp", []byte("half"))
		}, snapshot: "snapshot.8", applied: 10},
		{name: "only the initial snapshot", setup: func(t *testing.T, d *zkDir) {
			d.fs.Remove(d.fs.PathJoin(d.dir, "snapshot.8"))
		}, snapshot: "snapshot.0", applied: 18},
		{name: "no snapshot", setup: func(t *testing.T, d *zkDir) {
			d.fs.Remove(d.fs.PathJoin(d.dir, "snapshot.8"))
			d.fs.Remove(d.fs.PathJoin(d.dir, "snapshot.0"))
		}, snapshot: "", applied: 18},
		{name: "torn tail", setup: func(t *testing.T, d *zkDir) {
			b := logFile(10, 18)
			d.write(t, "log.a", b[:len(b)-512-3])
		}, snapshot: "snapshot.8", applied: 9, last: 17},
		{name: "missing log", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "log.a", logFile(12, 18))
		}, err: "no log holds 0xa..0xb"},
		{name: "every snapshot corrupt", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "snapshot.8", []byte("nonsense"))
			d.write(t, "snapshot.0", []byte("nonsense"))
		}, err: "no valid snapshot"},
		{name: "records out of order", setup: func(t *testing.T, d *zkDir) {
			d.write(t, "log.c", logFile(11, 12))
		}, err: "not after"},
		{name: "unsupported record", setup: func(t *testing.T, d *zkDir) {
			h := zktest.Header{Session: s1, Zxid: 19, Type: jute.OpSetWatches}
			d.write(t, "log.13", zktest.Log(0, zktest.Record(zktest.Txn(h, nil, nil))))
		}, err: "unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := standard(t)
			if tc.setup != nil {
				tc.setup(t, d)
			}
			tr, res, err := Load(Options{ZKDir: "/zk", FS: d.fs})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if res.ZKDir != "/zk/version-2" || res.Snapshot != tc.snapshot || res.Applied != tc.applied {
				t.Errorf("dir %s, snapshot %q applied %d; want %q %d", res.ZKDir, res.Snapshot, res.Applied, tc.snapshot, tc.applied)
			}
			var skipped []string
			for _, s := range res.SkippedSnapshots {
				skipped = append(skipped, s.Name)
			}
			if !reflect.DeepEqual(skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", res.SkippedSnapshots, tc.skipped)
			}
			ref := full
			if tc.last == 0 {
				tc.last = 18
			} else {
				ref = reference(t, int(tc.last))
			}
			if tr.Digest() != ref.Digest() || tr.LastZxid() != tc.last || res.LastZxid != tc.last {
				t.Errorf("tree differs from the reference (last zxid %d)", tr.LastZxid())
			}
			if last := res.Logs[len(res.Logs)-1].End; last.Torn != (tc.last != 18) {
				t.Errorf("last log's end %+v", last)
			}
			if res.Nodes != full.NodeCount() || res.Sessions != 1 || !tr.HasSession(s1) || tr.HasSession(s2) {
				t.Errorf("nodes %d sessions %d", res.Nodes, res.Sessions)
			}
			if n, _ := tr.Get("/c"); n.Owner() != jute.ContainerEphemeralOwner || len(tr.Containers()) != 1 {
				t.Errorf("container index %v", tr.Containers())
			}
			if got := tr.Ephemerals(s1); !reflect.DeepEqual(got, []string{"/a/b"}) {
				t.Errorf("ephemerals of s1: %v", got)
			}
		})
	}
}

func TestLoadDigest(t *testing.T) {
	full := reference(t, 18)
	lastWith := func(d *zkDir, digest int64) {
		t.Helper()
		p := history()[17]
		p = append(p, 0, 0, 0, 2)
		p = append(p, byte(digest>>56), byte(digest>>48), byte(digest>>40), byte(digest>>32), byte(digest>>24), byte(digest>>16), byte(digest>>8), byte(digest))
		var recs [][]byte
		for _, q := range history()[9:17] {
			recs = append(recs, zktest.Record(q))
		}
		d.write(t, "log.a", zktest.Log(0, append(recs, zktest.Record(p))...))
	}

	d := standard(t)
	lastWith(d, Digest(full, false))
	_, res, err := Load(Options{ZKDir: "/zk/version-2", FS: d.fs})
	if err != nil || res.DigestChecks != 2 || res.DigestZxid != 18 || res.Mismatch != nil {
		t.Fatalf("matching digests: %v, %d checks up to %#x, mismatch %+v", err, res.DigestChecks, res.DigestZxid, res.Mismatch)
	}

	lastWith(d, Digest(full, false)+1)
	_, res, err = Load(Options{ZKDir: "/zk/version-2", FS: d.fs})
	if !errors.Is(err, ErrDigestMismatch) || res.Mismatch == nil || res.Mismatch.Zxid != 18 {
		t.Fatalf("a wrong digest: %v, mismatch %+v", err, res.Mismatch)
	}
	// A digest on record 17, none on 18 (a check, which changes nothing,
	// like the error records ZooKeeper logs without a digest): the tree
	// is checked against 17's.
	{
		recs := [][]byte{}
		for _, q := range history()[9:16] {
			recs = append(recs, zktest.Record(q))
		}
		dig := Digest(full, false)
		h17 := zktest.Header{Zxid: 17, Time: 1700000000017, Cxid: 17, Type: jute.OpReconfig}
		p17 := zktest.Txn(h17, zktest.SetData("/zookeeper/config", []byte("server.1=x"), 1), &dig)
		recs = append(recs, zktest.Record(p17), zktest.Record(history()[17]))
		d.write(t, "log.a", zktest.Log(0, recs...))
		_, res, err = Load(Options{ZKDir: "/zk/version-2", FS: d.fs})
		if err != nil || res.DigestChecks != 2 || res.DigestZxid != 17 {
			t.Fatalf("digest before a no-op record: %v, %d checks up to %#x", err, res.DigestChecks, res.DigestZxid)
		}
	}

	// A snapshot digest a transaction off (ZooKeeper writes it after the
	// nodes) is reported but does not fail the import when a log record's
	// digest later agrees; with no log digest after it, it decides.
	{
		d := standard(t)
		fuzzy := snapshotOf(reference(t, 10))
		fuzzy.Digest = &zktest.Digest{Zxid: 10, Version: 2, Value: Digest(reference(t, 10), false) + 1}
		d.write(t, "snapshot.8", fuzzy.Bytes())
		lastWith(d, Digest(full, false))
		_, res, err := Load(Options{ZKDir: "/zk/version-2", FS: d.fs})
		if err != nil || res.Mismatch != nil || res.SnapshotMismatch == nil || res.SnapshotMismatch.Zxid != 10 || res.DigestZxid != 18 {
			t.Fatalf("snapshot digest off, log digest right: %v, mismatch %+v, snapshot mismatch %+v", err, res.Mismatch, res.SnapshotMismatch)
		}
		d.write(t, "log.a", logFile(10, 18))
		if _, res, err := Load(Options{ZKDir: "/zk/version-2", FS: d.fs}); !errors.Is(err, ErrDigestMismatch) || res.Mismatch == nil || res.Mismatch.Zxid != 10 {
			t.Fatalf("snapshot digest off, no log digest: %v, mismatch %+v", err, res.Mismatch)
		}
	}

	lastWith(d, Digest(full, false)+1)
	// The wrong one makes Import refuse, unless told to go on.
	if _, err := Import(Options{ZKDir: "/zk", DataDir: "/zkd", FS: d.fs}); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Import over a digest mismatch: %v", err)
	}
	if res, err := Import(Options{ZKDir: "/zk", DataDir: "/zkd2", FS: d.fs, IgnoreDigest: true}); err != nil || !res.Verified {
		t.Fatalf("Import with IgnoreDigest: %v", err)
	}
}

func TestDigestASCII(t *testing.T) {
	tr := tree.New()
	x := tree.Txn{Zxid: 1, Type: jute.OpCreate, Path: "/caf\u00e9", Data: []byte("d"), ACL: testACL, Version: 1}
	tr.Apply(&x, nil)
	if Digest(tr, false) == Digest(tr, true) {
		t.Fatal("the path's encoding does not change the digest")
	}
	if !hasNonASCIIPath(tr) || hasNonASCIIPath(tree.New()) {
		t.Fatal("hasNonASCIIPath")
	}
	// A log whose digest hashed the path as US-ASCII ("/caf?") matches.
	d := newZKDir(t)
	d.write(t, "snapshot.0", snapshotOf(tree.New()).Bytes())
	dig := Digest(tr, true)
	h := zktest.Header{Session: s1, Zxid: 1, Type: jute.OpCreate}
	d.write(t, "log.1", zktest.Log(0, zktest.Record(zktest.Txn(h, zktest.Create("/caf\u00e9", []byte("d"), testACL, false, 1), &dig))))
	_, res, err := Load(Options{ZKDir: "/zk/version-2", FS: d.fs})
	if err != nil || !res.DigestASCII || res.DigestChecks != 1 {
		t.Fatalf("Load: %v, ascii %v, checks %d", err, res.DigestASCII, res.DigestChecks)
	}
}

// TestDigestOfEmptyTree pins the digest function to its definition on
// ZooKeeper's initial tree: only "/" (hashed as "") and "/zookeeper"
// count, and with every Stat field zero each is the CRC-32 of its path,
// its empty data and 60 zero bytes.
func TestDigestOfEmptyTree(t *testing.T) {
	var zeros [60]byte
	want := int64(crc32.ChecksumIEEE(zeros[:])) + int64(crc32.ChecksumIEEE(append([]byte("/zookeeper"), zeros[:]...)))
	if got := Digest(tree.New(), false); got != want {
		t.Errorf("Digest(New()) = %#x, want %#x", got, want)
	}
}

func TestLoadLayouts(t *testing.T) {
	// zoo.cfg's dataLogDir: snapshots in one place, logs in another.
	d := standard(t)
	if err := d.fs.MkdirAll("/zklog/version-2", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"log.1", "log.a"} {
		if err := d.fs.Rename(d.fs.PathJoin(d.dir, name), "/zklog/version-2/"+name); err != nil {
			t.Fatal(err)
		}
	}
	tr, res, err := Load(Options{ZKDir: "/zk", ZKLogDir: "/zklog", FS: d.fs})
	if err != nil || res.Applied != 10 || tr.Digest() != reference(t, 18).Digest() || res.ZKLogDir != "/zklog/version-2" {
		t.Fatalf("separate log dir: %v, %+v", err, res)
	}
	// An empty directory is no ZooKeeper data.
	if _, _, err := Load(Options{ZKDir: "/zklog/version-2/..", FS: vfs.NewMem()}); err == nil {
		t.Fatal("Load of a missing directory succeeded")
	}
	empty := newZKDir(t)
	if _, _, err := Load(Options{ZKDir: "/zk", FS: empty.fs}); !errors.Is(err, ErrNoData) {
		t.Fatalf("Load of an empty directory: %v", err)
	}
}

func TestImport(t *testing.T) {
	d := standard(t)
	res, err := Import(Options{ZKDir: "/zk", DataDir: "/zkd", FS: d.fs})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !res.Verified || res.Written != engine.SnapshotName(18) || res.LastZxid != 18 {
		t.Errorf("result %+v", res)
	}
	store, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: "/zkd", FS: d.fs})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Digest() != reference(t, 18).Digest() || tr.LastZxid() != 18 || !tr.HasSession(s1) {
		t.Errorf("restored tree differs")
	}
	// The log is empty and takes the next zxid.
	if err := store.Log.Append([]tree.Txn{{Zxid: 19, Type: jute.OpDelete, Path: "/m"}}); err != nil {
		t.Errorf("append after import: %v", err)
	}
	store.Close()

	// A second import into the same directory is refused.
	if _, err := Import(Options{ZKDir: "/zk", DataDir: "/zkd", FS: d.fs}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("import into a used directory: %v", err)
	}
	// So is one whose log directory holds a log.
	if _, err := Import(Options{ZKDir: "/zk", DataDir: "/other", LogDir: "/zkd", FS: d.fs}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("import onto a used log directory: %v", err)
	}
	// A file that is not a directory cannot be listed.
	d.write(t, "../../file", []byte("x"))
	if _, err := Import(Options{ZKDir: "/zk", DataDir: "/file", FS: d.fs}); err == nil {
		t.Errorf("import into a file succeeded")
	}
	if _, err := Import(Options{ZKDir: "/zk", FS: d.fs}); err == nil {
		t.Errorf("import without a target succeeded")
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		zxid         int64
		suffix       string
		ok           bool
	}{
		{"snapshot.0", "snapshot", 0, "", true},
		{"snapshot.1a2b", "snapshot", 0x1a2b, "", true},
		{"snapshot.100000000.gz", "snapshot", 0x100000000, "gz", true},
		{"snapshot.7fffffffffffffff.snappy", "snapshot", 1<<63 - 1, "snappy", true},
		{"snapshot.8000000000000000", "snapshot", 0, "", false},
		{"snapshot.", "snapshot", 0, "", false},
		{"snapshot.-1", "snapshot", 0, "", false},
		{"snapshot.xyz", "snapshot", 0, "", false},
		{"log.5", "log", 5, "", true},
		{"log.5", "snapshot", 0, "", false},
		{"acceptedEpoch", "log", 0, "", false},
	} {
		zxid, suffix, ok := parseName(tc.name, tc.prefix)
		if zxid != tc.zxid || suffix != tc.suffix || ok != tc.ok {
			t.Errorf("parseName(%q, %q) = %#x, %q, %v", tc.name, tc.prefix, zxid, suffix, ok)
		}
	}
}
