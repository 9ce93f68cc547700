package zkimport

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"zkd/netio/jute"
	"zkd/tree"
)

// seed reads a file of testdata/fuzz: "go test fuzz v1" and one []byte.
func seed(t *testing.T, target, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, ok := strings.Cut(string(raw), "\n[]byte(")
	if !ok {
		t.Fatalf("%s: not a fuzz corpus file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// TestZooKeeper38Files decodes files Apache ZooKeeper 3.8.0 wrote (kept as
// fuzz seeds), so the decoders are checked against the real thing even
// where Java is not installed.
func TestZooKeeper38Files(t *testing.T) {
	build := func(name string, r io.Reader) (*tree.Tree, *Snapshot) {
		t.Helper()
		b := tree.NewBuilder()
		snap, err := DecodeSnapshot(r, name, func(n *SnapNode) error { return b.AddNode(n.Path, n.Data, n.ACL, n.Stat) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tr, err := b.Tree(0)
		if err != nil {
			t.Fatal(err)
		}
		return tr, snap
	}

	// The snapshot a fresh server writes is ZooKeeper's initial tree,
	// which tree.New reproduces node for node.
	initial, snap := build("initial", bytes.NewReader(seed(t, "FuzzDecodeSnapshot", "zookeeper-3.8-initial-snapshot")))
	if initial.Digest() != tree.New().Digest() || len(snap.Sessions) != 0 {
		t.Errorf("initial snapshot differs from tree.New()")
	}
	if snap.Digest == nil || snap.Digest.Version != DigestVersion {
		t.Errorf("digest record %+v", snap.Digest)
	}

	tr, snap := build("snapshot", bytes.NewReader(seed(t, "FuzzDecodeSnapshot", "zookeeper-3.8-snapshot")))
	if snap.DBID != -1 || snap.Nodes < 10 || tr.NodeCount() != snap.Nodes || len(snap.Sessions) == 0 {
		t.Errorf("snapshot: %+v", snap)
	}
	if d := snap.Digest; d == nil || d.Version != DigestVersion {
		t.Errorf("digest record %+v", d)
	}

	z, err := NewSnappyReader(bytes.NewReader(seed(t, "FuzzSnappyReader", "zookeeper-3.8-snapshot-snappy")))
	if err != nil {
		t.Fatal(err)
	}
	build("snappy snapshot", z)

	lr, err := NewLogReader(bytes.NewReader(seed(t, "FuzzLogReader", "zookeeper-3.8-log-12-records")), "log")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := DecodeEntry(rec.Payload)
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		if n++; e.Header.Zxid != int64(n) || (e.Digest != nil && e.Digest.Version != DigestVersion) {
			t.Errorf("record %d: zxid %#x digest %+v", n, e.Header.Zxid, e.Digest)
		}
	}
	// The seed is cut 16 bytes into the 13th record.
	if end := lr.End(); n != 12 || !end.Torn {
		t.Errorf("%d records, end %+v", n, end)
	}

	// One record of each type ZooKeeper logged for the e2e workload.
	for _, op := range []jute.Op{jute.OpCreateSession, jute.OpCloseSession, jute.OpError, jute.OpCreate,
		jute.OpDelete, jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCreateContainer, jute.OpCreateTTL} {
		e, err := DecodeEntry(seed(t, "FuzzDecodeEntry", "zookeeper-3.8-type"+strconv.Itoa(int(op))))
		if err != nil {
			t.Errorf("%v: %v", op, err)
			continue
		}
		// ZooKeeper 3.8 logs a digest with every record but an error.
		if e.Header.Type != op || (e.Digest == nil) != (op == jute.OpError) {
			t.Errorf("%v: header %+v digest %+v", op, e.Header, e.Digest)
		}
	}
}
