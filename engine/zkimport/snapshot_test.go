package zkimport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
	"zkd/tree"
)

// testSnapshot is a small snapshot as ZooKeeper 3.8 writes one: the root,
// the system nodes, an ephemeral, a container, a TTL node, null and empty
// data, and nodes on cached and uncached ACLs.
func testSnapshot() *zktest.Snapshot {
	st := func(czxid int64, version, cversion int32, owner int64) tree.PersistedStat {
		return tree.PersistedStat{Czxid: czxid, Mzxid: czxid + 1, Pzxid: czxid + 2, Ctime: 1000 + czxid, Mtime: 2000 + czxid,
			Owner: owner, Version: version, Cversion: cversion, Aversion: 1}
	}
	return &zktest.Snapshot{
		DBID:     -1,
		Sessions: []zktest.Session{{ID: 0x1000a, Timeout: 30000}, {ID: 0x1000b, Timeout: 4000}},
		ACLs: []zktest.ACLEntry{
			{Ref: 1, List: digestACL},
			{Ref: 2, List: []jute.ACL{}},
		},
		Nodes: []zktest.Node{
			{Path: "/", Data: []byte{}, ACLRef: -1, Stat: tree.PersistedStat{Pzxid: 9, Cversion: 3}},
			{Path: "/zookeeper", Data: []byte{}, ACLRef: -1},
			{Path: "/zookeeper/quota", Data: []byte{}, ACLRef: -1},
			{Path: "/zookeeper/config", Data: []byte{}, ACLRef: -1, Stat: tree.PersistedStat{Aversion: -1}},
			{Path: "/app", Data: []byte("application"), ACLRef: 1, Stat: st(2, 5, 2, 0)},
			{Path: "/app/lock", Data: nil, ACLRef: -1, Stat: st(3, 0, 0, 0x1000a)},
			{Path: "/app/cont", Data: []byte{}, ACLRef: 2, Stat: st(4, 0, 1, jute.ContainerEphemeralOwner)},
			{Path: "/ttl", Data: []byte("t"), ACLRef: -1, Stat: st(5, 0, 0, jute.TTLOwner(60000))},
		},
		Digest: &zktest.Digest{Zxid: 9, Version: 2, Value: 0x1234},
	}
}

// decodeAll decodes a snapshot stream and collects its nodes.
func decodeAll(b []byte) (*Snapshot, []SnapNode, error) {
	var nodes []SnapNode
	snap, err := DecodeSnapshot(bytes.NewReader(b), "snapshot.9", func(n *SnapNode) error {
		nodes = append(nodes, *n)
		return nil
	})
	return snap, nodes, err
}

func TestDecodeSnapshot(t *testing.T) {
	last := int64(0x77)
	tests := []struct {
		name   string
		edit   func(s *zktest.Snapshot)
		digest *ZxidDigest
		last   int64
	}{
		{name: "3.8 with digest", digest: &ZxidDigest{Zxid: 9, Version: 2, Digest: 0x1234}},
		{name: "3.5 without digest", edit: func(s *zktest.Snapshot) { s.Digest = nil }},
		{name: "3.9 with digest and last zxid", edit: func(s *zktest.Snapshot) { s.LastZxid = &last },
			digest: &ZxidDigest{Zxid: 9, Version: 2, Digest: 0x1234}, last: last},
		{name: "3.9 with last zxid only", edit: func(s *zktest.Snapshot) { s.Digest, s.LastZxid = nil, &last }, last: last},
		{name: "no sessions, no cached ACL", edit: func(s *zktest.Snapshot) {
			s.Sessions, s.ACLs, s.Nodes, s.Digest = nil, nil, s.Nodes[:4], nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := testSnapshot()
			if tc.edit != nil {
				tc.edit(src)
			}
			snap, nodes, err := decodeAll(src.Bytes())
			if err != nil {
				t.Fatalf("DecodeSnapshot: %v", err)
			}
			if snap.DBID != -1 || snap.Nodes != len(src.Nodes) || snap.ACLLists != len(src.ACLs) || len(snap.Sessions) != len(src.Sessions) {
				t.Errorf("snapshot %+v", snap)
			}
			for i, s := range src.Sessions {
				if snap.Sessions[i] != (Session{ID: s.ID, TimeoutMs: s.Timeout}) {
					t.Errorf("session %d: %+v, want %+v", i, snap.Sessions[i], s)
				}
			}
			if !reflect.DeepEqual(snap.Digest, tc.digest) || snap.LastZxid != tc.last {
				t.Errorf("digest %+v last zxid %#x, want %+v %#x", snap.Digest, snap.LastZxid, tc.digest, tc.last)
			}
			if len(nodes) != len(src.Nodes) {
				t.Fatalf("%d nodes, want %d", len(nodes), len(src.Nodes))
			}
			acls := map[int64][]jute.ACL{-1: openACLUnsafe}
			for _, a := range src.ACLs {
				acls[a.Ref] = a.List
			}
			for i, n := range nodes {
				w := src.Nodes[i]
				if n.Path != w.Path || !bytes.Equal(n.Data, w.Data) || (n.Data == nil) != (w.Data == nil) ||
					n.Stat != w.Stat || !reflect.DeepEqual(n.ACL, acls[w.ACLRef]) {
					t.Errorf("node %d:\n got %+v\nwant %+v (acl %v)", i, n, w, acls[w.ACLRef])
				}
			}
		})
	}
}

func TestDecodeSnapshotVersion1Digest(t *testing.T) {
	// Digest version 1 held the value as a hex string.
	var w jute.Writer
	w.B = (&zktest.Snapshot{Nodes: testSnapshot().Nodes[:1]}).Bytes()
	w.Long(9)
	w.Int(1)
	w.String("abc")
	zktest.Seal(&w)
	snap, _, err := decodeAll(w.B)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&ZxidDigest{Zxid: 9, Version: 1, Digest: 0xabc}); !reflect.DeepEqual(snap.Digest, want) {
		t.Errorf("digest %+v, want %+v", snap.Digest, want)
	}
}

func TestDecodeSnapshotCorrupt(t *testing.T) {
	good := testSnapshot().Bytes()
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	withNodes := func(nodes ...zktest.Node) []byte {
		s := testSnapshot()
		s.Nodes = nodes
		return s.Bytes()
	}
	root := testSnapshot().Nodes[0]
	tests := []struct {
		name string
		b    []byte
		has  string
	}{
		{"bad magic", flip(0), "magic"},
		{"bad version", flip(7), "version"},
		{"bad checksum", flip(len(good) - 40), "checksum"},
		{"data flipped", flip(200), ""},
		{"digest flipped", flip(len(good) - 20), "after the checksum"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the checksum"},
		{"garbage after", append(bytes.Clone(good), make([]byte, tailBytesMax+1)...), "more than"},
		{"negative session count", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[16:], 0xffffffff)
			return b
		}(), "session count"},
		{"unknown ACL ref", withNodes(root, zktest.Node{Path: "/a", ACLRef: 99}), "ACL 99"},
		{"null path", func() []byte {
			var w jute.Writer
			w.Int(zktest.SnapMagic)
			w.Int(2)
			w.Long(-1)
			w.Int(0)
			w.Int(0)
			w.Int(-1)
			return w.B
		}(), "null node path"},
		{"empty", nil, "cut short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeAll(tc.b)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want a CorruptError", err)
			}
			if !strings.Contains(err.Error(), tc.has) {
				t.Errorf("error %q does not say %q", err, tc.has)
			}
		})
	}
	// Every proper prefix fails as corrupt, none panics; but for the one
	// that ends at the first seal, a whole snapshot without a digest.
	noDigest := testSnapshot()
	noDigest.Digest = nil
	whole := len(noDigest.Bytes())
	for n := range len(good) {
		if n == whole {
			continue
		}
		if _, _, err := decodeAll(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
}

func TestDecodeSnapshotCallbackError(t *testing.T) {
	stop := errors.New("stop here")
	calls := 0
	_, err := DecodeSnapshot(bytes.NewReader(testSnapshot().Bytes()), "snapshot.9", func(n *SnapNode) error {
		calls++
		if n.Path == "/app" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 5 || !strings.Contains(err.Error(), `"/app"`) {
		t.Errorf("error %v after %d calls", err, calls)
	}
}

func TestCompression(t *testing.T) {
	raw := testSnapshot().Bytes()
	tests := []struct {
		c    Compression
		file []byte
	}{
		{CompressionNone, raw},
		{CompressionGzip, zktest.Gzip(raw)},
		{CompressionSnappy, zktest.Snappy(raw, 64)},
		// Two snappy-java streams one after the other.
		{CompressionSnappy, append(zktest.Snappy(raw[:100], 7), zktest.Snappy(raw[100:], 1000)...)},
	}
	for _, tc := range tests {
		r, err := decompress(bytes.NewReader(tc.file), tc.c)
		if err != nil {
			t.Fatalf("%v: %v", tc.c, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%v: %d bytes, %v; want %d", tc.c, len(got), err, len(raw))
		}
	}
	for name, bad := range map[string][]byte{
		"no magic":        []byte("SNAPPY.........."),
		"short header":    zktest.Snappy(raw, 64)[:10],
		"cut chunk":       zktest.Snappy(raw, 64)[:40],
		"zero chunk":      append(zktest.Snappy(nil, 1), 0, 0, 0, 0),
		"huge chunk":      append(zktest.Snappy(nil, 1), 0x7f, 0, 0, 0),
		"bad block":       append(zktest.Snappy(nil, 1), 0, 0, 0, 2, 0xff, 0xff),
		"bad header next": append(zktest.Snappy(nil, 1), 0x82, 'X', 0, 0),
	} {
		r, err := NewSnappyReader(bytes.NewReader(bad))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, ErrSnappy) {
			t.Errorf("%s: %v, want ErrSnappy", name, err)
		}
	}
}
