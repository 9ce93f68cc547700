package tree

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"zkd/netio/jute"
)

var builderACL = []jute.ACL{{Perms: jute.PermRead, ID: jute.ID{Scheme: "digest", ID: "alice:xyz"}}}

// builtTree builds a tree as an imported snapshot would: a stored Stat on
// every node (cversion as StatPersisted keeps it), an ephemeral, a
// container, a TTL node, null and empty data, two ACLs.
func builtTree(t *testing.T) *Tree {
	t.Helper()
	b := NewBuilder()
	add := func(path string, data []byte, acl []jute.ACL, st PersistedStat) {
		t.Helper()
		if err := b.AddNode(path, data, acl, st); err != nil {
			t.Fatalf("AddNode(%s): %v", path, err)
		}
	}
	add("/", []byte{}, OpenACLUnsafe, PersistedStat{Pzxid: 9, Cversion: 4})
	add("/zookeeper", []byte{}, OpenACLUnsafe, PersistedStat{})
	add("/app", []byte("a"), builderACL, PersistedStat{Czxid: 2, Mzxid: 7, Pzxid: 8, Ctime: 100, Mtime: 700, Version: 3, Cversion: 5, Aversion: 1})
	add("/app/lock", nil, OpenACLUnsafe, PersistedStat{Czxid: 3, Mzxid: 3, Pzxid: 3, Owner: 0x77})
	add("/app/c", []byte{}, OpenACLUnsafe, PersistedStat{Czxid: 4, Mzxid: 4, Pzxid: 6, Owner: jute.ContainerEphemeralOwner, Cversion: 2})
	add("/app/c/x", []byte("x"), builderACL, PersistedStat{Czxid: 6, Mzxid: 6, Pzxid: 6})
	add("/ttl", []byte("t"), OpenACLUnsafe, PersistedStat{Czxid: 9, Mzxid: 9, Pzxid: 9, Owner: jute.TTLOwner(5000)})
	if err := b.AddSession(0x77, 30000); err != nil {
		t.Fatal(err)
	}
	if err := b.AddSession(0x78, 4000); err != nil {
		t.Fatal(err)
	}
	tr, err := b.Tree(9)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestBuilder(t *testing.T) {
	tr := builtTree(t)
	checkInvariants(t, tr)
	if tr.LastZxid() != 9 || tr.NodeCount() != 7 {
		t.Errorf("last zxid %d, %d nodes", tr.LastZxid(), tr.NodeCount())
	}
	app, _ := tr.Get("/app")
	want := PersistedStat{Czxid: 2, Mzxid: 7, Pzxid: 8, Ctime: 100, Mtime: 700, Version: 3, Cversion: 5, Aversion: 1}
	if got := app.Persisted(); got != want {
		t.Errorf("Persisted %+v, want %+v", got, want)
	}
	// Clients see cversion as ZooKeeper shows it: 2*5 - 2 children.
	if st := app.Stat(); st.Cversion != 8 || st.NumChildren != 2 || st.DataLength != 1 || st.Version != 3 {
		t.Errorf("Stat %+v", st)
	}
	if !reflect.DeepEqual(app.ACL(), builderACL) || !bytes.Equal(app.Data(), []byte("a")) {
		t.Errorf("ACL %v data %q", app.ACL(), app.Data())
	}
	if n, _ := tr.Get("/app/lock"); n.Data() != nil || n.Stat().EphemeralOwner != 0x77 {
		t.Errorf("ephemeral: data %v owner %#x", n.Data(), n.Stat().EphemeralOwner)
	}
	if n, _ := tr.Get("/app/c"); n.Data() == nil || n.Stat().EphemeralOwner != 0 {
		t.Errorf("container: empty data read as null, or owner shown")
	}
	if !reflect.DeepEqual(tr.Ephemerals(0x77), []string{"/app/lock"}) ||
		!reflect.DeepEqual(tr.Containers(), []string{"/app/c"}) ||
		!reflect.DeepEqual(tr.TTLNodes(), []string{"/ttl"}) {
		t.Errorf("indexes: %v %v %v", tr.Ephemerals(0x77), tr.Containers(), tr.TTLNodes())
	}
	if !reflect.DeepEqual(tr.Sessions(), map[int64]int32{0x77: 30000, 0x78: 4000}) {
		t.Errorf("sessions %v", tr.Sessions())
	}
	var size int64
	for _, p := range []string{"/", "/zookeeper", "/app", "/app/lock", "/app/c", "/app/c/x", "/ttl"} {
		n, _ := tr.Get(p)
		size += nodeSize(p, n.Data())
	}
	if tr.DataBytes() != size {
		t.Errorf("DataBytes %d, want %d", tr.DataBytes(), size)
	}
}

// TestBuilderThenApply: a built tree takes transactions as any other,
// and closing the imported session deletes its ephemeral.
func TestBuilderThenApply(t *testing.T) {
	tr := builtTree(t)
	steps := []Txn{
		{Zxid: 10, Type: jute.OpCreate, Path: "/app/n", Data: []byte("n"), ACL: OpenACLUnsafe, Version: 6},
		{Zxid: 11, Type: jute.OpSetData, Path: "/app", Data: []byte("b"), Version: 4},
		{Zxid: 12, Type: jute.OpDelete, Path: "/app/c/x"},
		{Zxid: 13, Session: 0x77, Type: jute.OpCloseSession, Paths: []string{"/app/lock"}},
		{Zxid: 14, Type: jute.OpDelete, Path: "/ttl"},
	}
	for i := range steps {
		if res, _ := tr.Apply(&steps[i], nil); res.Err != jute.ErrOK {
			t.Fatalf("%v %s: %v", steps[i].Type, steps[i].Path, res.Err)
		}
		checkInvariants(t, tr)
	}
	app, _ := tr.Get("/app")
	if st := app.Persisted(); st.Cversion != 6 || st.Pzxid != 13 || st.Version != 4 || st.Mzxid != 11 {
		t.Errorf("/app after the log: %+v", st)
	}
	if tr.HasSession(0x77) || len(tr.Ephemerals(0x77)) != 0 || len(tr.TTLNodes()) != 0 || tr.LastZxid() != 14 {
		t.Errorf("session or indexes not updated")
	}
}

// TestBuilderSnapshotRoundTrip: our own snapshot of a built tree restores
// to the same state.
func TestBuilderSnapshotRoundTrip(t *testing.T) {
	tr := builtTree(t)
	var buf bytes.Buffer
	sw := tr.NewSnapshotWriter()
	for done := false; !done; {
		var err error
		if done, err = sw.Next(&buf, 2); err != nil {
			t.Fatal(err)
		}
	}
	back, zxid, err := RestoreSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if zxid != 9 || back.Digest() != tr.Digest() || dump(back) != dump(tr) {
		t.Errorf("restored tree differs:\n%s", diffLines(dump(tr), dump(back)))
	}
}

func TestBuilderErrors(t *testing.T) {
	root := func(b *Builder) { _ = b.AddNode("/", nil, nil, PersistedStat{}) }
	tests := []struct {
		name string
		do   func(b *Builder) error
	}{
		{"first node not the root", func(b *Builder) error { return b.AddNode("/a", nil, nil, PersistedStat{}) }},
		{"root owned", func(b *Builder) error { return b.AddNode("/", nil, nil, PersistedStat{Owner: 5}) }},
		{"root twice", func(b *Builder) error { root(b); return b.AddNode("/", nil, nil, PersistedStat{}) }},
		{"node twice", func(b *Builder) error {
			root(b)
			_ = b.AddNode("/a", nil, nil, PersistedStat{})
			return b.AddNode("/a", nil, nil, PersistedStat{})
		}},
		{"parent missing", func(b *Builder) error { root(b); return b.AddNode("/a/b", nil, nil, PersistedStat{}) }},
		{"invalid path", func(b *Builder) error { root(b); return b.AddNode("/a/../b", nil, nil, PersistedStat{}) }},
		{"trailing slash", func(b *Builder) error { root(b); return b.AddNode("/a/", nil, nil, PersistedStat{}) }},
		{"session twice", func(b *Builder) error { _ = b.AddSession(1, 1); return b.AddSession(1, 2) }},
		{"no root", func(b *Builder) error { _, err := b.Tree(0); return err }},
		{"Tree twice", func(b *Builder) error { root(b); _, _ = b.Tree(0); _, err := b.Tree(0); return err }},
		{"AddNode after Tree", func(b *Builder) error {
			root(b)
			_, _ = b.Tree(0)
			return b.AddNode("/a", nil, nil, PersistedStat{})
		}},
		{"AddSession after Tree", func(b *Builder) error { root(b); _, _ = b.Tree(0); return b.AddSession(1, 1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(NewBuilder()); !errors.Is(err, ErrBadImport) {
				t.Errorf("error %v, want ErrBadImport", err)
			}
		})
	}
}
