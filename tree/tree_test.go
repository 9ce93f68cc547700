package tree

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"zkd/netio/jute"
)

// checkInvariants verifies the tree's internal indexes against its nodes:
// the path index against parent links and child lists, the ACL reference
// counts, the ephemeral, container and TTL indexes, and DataBytes.
func checkInvariants(t *testing.T, tr *Tree) {
	t.Helper()
	if d, walk := tr.Digest(), tr.computeDigest(); d != walk {
		t.Fatalf("digest %#x kept up to date, %#x by a walk", d, walk)
	}
	refs := make(map[uint32]int64)
	var size int64
	eph := make(map[int64]map[string]struct{})
	containers := make(map[string]struct{})
	ttls := make(map[string]struct{})
	paths := allPaths(tr)
	if len(paths) != tr.count || tr.index.used != tr.count {
		t.Fatalf("%d nodes reachable, count %d, path index holds %d", len(paths), tr.count, tr.index.used)
	}
	for p, id := range paths {
		n := tr.node(id)
		refs[n.acl]++
		size += nodeSize(p, tr.data(n))
		if got := tr.lookup(p); got != id {
			t.Fatalf("%s: lookup finds %d, the walk %d", p, got, id)
		}
		if p == "/" {
			if n.parent != 0 || tr.nameView(n) != "" || tr.root != id {
				t.Fatalf("root has parent %d name %q", n.parent, tr.nameView(n))
			}
		} else {
			parent, name := SplitPath(p)
			if n.parent != paths[parent] || tr.nameView(n) != name {
				t.Fatalf("%s: parent link or name disagrees", p)
			}
		}
		var count int32
		prev := nodeID(0)
		for c := n.child; c != 0; c = tr.node(c).next {
			if tr.node(c).prev != prev || tr.node(c).parent != id {
				t.Fatalf("%s: child list broken at %d", p, c)
			}
			prev = c
			count++
		}
		if count != n.numChildren {
			t.Fatalf("%s: %d children listed, numChildren %d", p, count, n.numChildren)
		}
		switch {
		case n.owner == jute.ContainerEphemeralOwner:
			containers[p] = struct{}{}
		case jute.IsTTLOwner(n.owner):
			ttls[p] = struct{}{}
		case jute.IsEphemeralOwner(n.owner):
			if eph[n.owner] == nil {
				eph[n.owner] = make(map[string]struct{})
			}
			eph[n.owner][p] = struct{}{}
		}
	}
	for ref, list := range tr.acls.lists {
		if ref == 0 {
			continue
		}
		if got, want := tr.acls.refs[ref], refs[uint32(ref)]; got != want {
			t.Fatalf("acl %d %v: %d references counted, %d held", ref, list, got, want)
		}
		if list == nil {
			continue
		}
		if tr.acls.index[aclKey(list)] != uint32(ref) {
			t.Fatalf("acl %d %v not indexed", ref, list)
		}
	}
	if len(tr.acls.index)+len(tr.acls.free) != len(tr.acls.lists)-1 {
		t.Fatalf("acl cache: %d indexed + %d free != %d lists", len(tr.acls.index), len(tr.acls.free), len(tr.acls.lists)-1)
	}
	var blobBytes int64
	for _, id := range paths {
		n := tr.node(id)
		switch k := n.blobLen(); {
		case n.blob == 0 || k == 0:
			t.Fatalf("node %d: blob %#x of %d bytes", id, n.blob, k)
		case k > blobSmallMax:
			blobBytes += int64(k)
		default:
			_, c := blobClass(k)
			blobBytes += int64(c)
		}
	}
	if blobBytes != tr.blobs.bytes {
		t.Fatalf("blob arena counts %d bytes, nodes hold %d", tr.blobs.bytes, blobBytes)
	}
	if size != tr.dataBytes {
		t.Fatalf("DataBytes %d, nodes hold %d", tr.dataBytes, size)
	}
	if fmt.Sprint(eph) != fmt.Sprint(tr.ephemerals) {
		t.Fatalf("ephemeral index %v, nodes say %v", tr.ephemerals, eph)
	}
	if fmt.Sprint(containers) != fmt.Sprint(tr.containers) || fmt.Sprint(ttls) != fmt.Sprint(tr.ttls) {
		t.Fatalf("container/ttl index %v %v, nodes say %v %v", tr.containers, tr.ttls, containers, ttls)
	}
}

func applyTxn(t *testing.T, tr *Tree, x Txn) Result {
	t.Helper()
	res, _ := tr.Apply(&x, nil)
	return res
}

func TestNewTree(t *testing.T) {
	tr := New()
	checkInvariants(t, tr)
	// What a fresh Apache ZooKeeper 3.8.0 answers (checked against it).
	want := map[string]jute.Stat{
		"/":                 {Cversion: -1, NumChildren: 1},
		"/zookeeper":        {Cversion: -2, NumChildren: 2},
		"/zookeeper/quota":  {},
		"/zookeeper/config": {Aversion: -1},
	}
	for p, st := range want {
		n, ok := tr.Get(p)
		if !ok {
			t.Fatalf("%s missing", p)
		}
		if got := n.Stat(); got != st {
			t.Errorf("%s: stat %+v, want %+v", p, got, st)
		}
		wantACL := OpenACLUnsafe
		if p == "/zookeeper/config" {
			wantACL = ReadACLUnsafe
		}
		if !slices.Equal(n.ACL(), wantACL) {
			t.Errorf("%s: acl %v, want %v", p, n.ACL(), wantACL)
		}
	}
	if tr.NodeCount() != 4 {
		t.Errorf("NodeCount %d, want 4", tr.NodeCount())
	}
	if tr.DataBytes() != 44 {
		t.Errorf("DataBytes %d, want 44 (ZooKeeper's approximate_data_size)", tr.DataBytes())
	}
	if tr.LastZxid() != 0 || len(tr.Sessions()) != 0 || tr.EphemeralCount() != 0 {
		t.Errorf("fresh tree not empty")
	}
	root, _ := tr.Get("/")
	if got := root.Children(nil); !slices.Equal(got, []string{"zookeeper"}) {
		t.Errorf("root children %v", got)
	}
	if got := root.CountDescendants(); got != 3 {
		t.Errorf("CountDescendants(/) = %d, want 3", got)
	}
}

func TestApplyCreateStat(t *testing.T) {
	tr := New()
	res := applyTxn(t, tr, Txn{Zxid: 5, Time: 777, Session: 9, Type: jute.OpCreate2, Path: "/a", Data: []byte("hello"), ACL: OpenACLUnsafe, Version: 1})
	want := jute.Stat{Czxid: 5, Mzxid: 5, Pzxid: 5, Ctime: 777, Mtime: 777, DataLength: 5}
	if res.Err != jute.ErrOK || res.Op != jute.OpCreate2 || res.Path != "/a" || res.Stat != want {
		t.Fatalf("result %+v, want stat %+v", res, want)
	}
	if got := stat(t, tr, "/a"); got != want {
		t.Fatalf("stat %+v, want %+v", got, want)
	}
	// Parent: stored cversion 1 (the txn's), pzxid 5; clients see
	// 2*1 - 2 children = 0.
	if got := stat(t, tr, "/"); got.Pzxid != 5 || got.Cversion != 0 || got.NumChildren != 2 || got.Mzxid != 0 {
		t.Fatalf("root stat %+v", got)
	}
	if tr.LastZxid() != 5 {
		t.Fatalf("LastZxid %d", tr.LastZxid())
	}

	// A create whose parent cversion is not larger leaves the parent's
	// cversion and pzxid alone (DataTree.createNode).
	applyTxn(t, tr, Txn{Zxid: 6, Time: 800, Type: jute.OpCreate, Path: "/b", ACL: OpenACLUnsafe, Version: 1})
	if got := stat(t, tr, "/"); got.Pzxid != 5 || got.Cversion != 2*1-3 {
		t.Fatalf("root after non-increasing create: %+v", got)
	}
	// A larger one moves both.
	applyTxn(t, tr, Txn{Zxid: 7, Time: 800, Type: jute.OpCreate, Path: "/c", ACL: OpenACLUnsafe, Version: 9})
	if got := stat(t, tr, "/"); got.Pzxid != 7 || got.Cversion != 2*9-4 {
		t.Fatalf("root after increasing create: %+v", got)
	}
	// Nil data is a zero-length node.
	if got := stat(t, tr, "/b"); got.DataLength != 0 {
		t.Fatalf("/b stat %+v", got)
	}
	checkInvariants(t, tr)
}

func stat(t *testing.T, tr *Tree, path string) jute.Stat {
	t.Helper()
	n, ok := tr.Get(path)
	if !ok {
		t.Fatalf("%s: no node", path)
	}
	return n.Stat()
}

func storedCversion(tr *Tree, path string) int32 {
	n, _ := tr.Get(path)
	return tr.node(n.id).cversion
}

func TestApplyCreateErrors(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	before := dump(tr)
	for _, tc := range []struct {
		path string
		want jute.Err
	}{
		{"/x/y", jute.ErrNoNode},
		{"/", jute.ErrBadArguments},
		{"/a/", jute.ErrBadArguments},
		{"//a", jute.ErrBadArguments},
		{"a", jute.ErrBadArguments},
		{"", jute.ErrBadArguments},
		{"/a/./b", jute.ErrBadArguments},
	} {
		if res := applyTxn(t, tr, Txn{Zxid: 2, Type: jute.OpCreate, Path: tc.path, ACL: OpenACLUnsafe, Version: 1}); res.Err != tc.want {
			t.Errorf("create %q: %v, want %v", tc.path, res.Err, tc.want)
		}
	}
	if after := dump(tr); after != before {
		t.Fatalf("failed creates changed the tree: %s", diffLines(after, before))
	}

	// NodeExists with a smaller or equal cversion changes nothing...
	if res := applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpCreate, Path: "/a", Data: []byte("new"), ACL: OpenACLUnsafe, Version: 1}); res.Err != jute.ErrNodeExists {
		t.Fatalf("create existing: %v", res.Err)
	}
	if after := dump(tr); after != before {
		t.Fatalf("replayed create changed the tree: %s", diffLines(after, before))
	}
	// ...and with a larger one raises the parent's cversion and pzxid,
	// as ZooKeeper's processTxn (setCversionPzxid) does on replay. The
	// node itself is untouched.
	if res := applyTxn(t, tr, Txn{Zxid: 4, Type: jute.OpCreate, Path: "/a", Data: []byte("new"), ACL: OpenACLUnsafe, Version: 5}); res.Err != jute.ErrNodeExists {
		t.Fatalf("create existing: %v", res.Err)
	}
	if c, st := storedCversion(tr, "/"), stat(t, tr, "/"); c != 5 || st.Pzxid != 4 {
		t.Fatalf("root after replayed create: stored cversion %d, stat %+v", c, st)
	}
	if st := stat(t, tr, "/a"); st.Czxid != 1 || st.DataLength != 0 {
		t.Fatalf("/a changed: %+v", st)
	}
	checkInvariants(t, tr)
}

func TestApplyDelete(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, tr, Txn{Zxid: 2, Type: jute.OpCreate, Path: "/a/b", Data: []byte("12345"), ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpCreate, Path: "/a/c", ACL: OpenACLUnsafe, Version: 2})
	if st := stat(t, tr, "/a"); st.Cversion != 2 || st.Pzxid != 3 || st.NumChildren != 2 {
		t.Fatalf("/a before delete: %+v", st)
	}
	bytesBefore := tr.DataBytes()

	res := applyTxn(t, tr, Txn{Zxid: 5, Type: jute.OpDelete, Path: "/a/b"})
	if res.Err != jute.ErrOK || res.Op != jute.OpDelete || res.Path != "/a/b" {
		t.Fatalf("delete: %+v", res)
	}
	if _, ok := tr.Get("/a/b"); ok {
		t.Fatalf("/a/b still there")
	}
	// DataTree.deleteNode updates only pzxid: the stored cversion stays 2,
	// and the client's cversion (2*2 - 1 child) counts the delete.
	st := stat(t, tr, "/a")
	if st.Pzxid != 5 || st.NumChildren != 1 || st.Cversion != 3 || storedCversion(tr, "/a") != 2 {
		t.Fatalf("/a after delete: %+v stored cversion %d", st, storedCversion(tr, "/a"))
	}
	if st.Mzxid != 1 || st.Czxid != 1 {
		t.Fatalf("/a mzxid/czxid changed: %+v", st)
	}
	if got := bytesBefore - tr.DataBytes(); got != int64(len("/a/b")+5) {
		t.Fatalf("DataBytes fell by %d", got)
	}

	// A delete that finds no node (replay) still raises the parent's pzxid
	// but never lowers it.
	if res := applyTxn(t, tr, Txn{Zxid: 9, Type: jute.OpDelete, Path: "/a/b"}); res.Err != jute.ErrNoNode {
		t.Fatalf("delete missing: %v", res.Err)
	}
	if st := stat(t, tr, "/a"); st.Pzxid != 9 {
		t.Fatalf("/a pzxid %d after replayed delete, want 9", st.Pzxid)
	}
	if res := applyTxn(t, tr, Txn{Zxid: 7, Type: jute.OpDelete, Path: "/a/c"}); res.Err != jute.ErrOK {
		t.Fatalf("delete /a/c: %v", res.Err)
	}
	if st := stat(t, tr, "/a"); st.Pzxid != 9 || st.Cversion != 4 || st.NumChildren != 0 {
		t.Fatalf("/a after older delete: %+v", st)
	}
	if res := applyTxn(t, tr, Txn{Zxid: 10, Type: jute.OpDelete, Path: "/nope/x"}); res.Err != jute.ErrNoNode {
		t.Fatalf("delete under missing parent: %v", res.Err)
	}
	// deleteContainer applies as delete.
	if res := applyTxn(t, tr, Txn{Zxid: 11, Type: jute.OpDeleteContainer, Path: "/a"}); res.Err != jute.ErrOK {
		t.Fatalf("deleteContainer: %v", res.Err)
	}
	if st := stat(t, tr, "/"); st.Pzxid != 11 {
		t.Fatalf("root pzxid %d", st.Pzxid)
	}
	checkInvariants(t, tr)
}

// TestApplyDeleteReplaySubtree: in replay a delete can meet a later
// incarnation of its node, with children created after the delete; it
// removes the subtree (later txns recreate it), as ZooKeeper's deleteNode
// drops the node whatever its children.
func TestApplyDeleteReplaySubtree(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreateSession, Session: 5, Timeout: 1})
	applyTxn(t, tr, Txn{Zxid: 2, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpCreate, Path: "/a/b", ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, tr, Txn{Zxid: 4, Type: jute.OpCreate, Path: "/a/b/c", ACL: ReadACLUnsafe, Version: 1, Owner: 5})
	applyTxn(t, tr, Txn{Zxid: 5, Type: jute.OpCreate, Path: "/a/d", ACL: OpenACLUnsafe, Version: 2, Owner: jute.ContainerEphemeralOwner})
	tr.Watches.AddData("/a/b/c", 1)
	res, ev := tr.Apply(&Txn{Zxid: 6, Type: jute.OpDelete, Path: "/a"}, nil)
	if res.Err != jute.ErrOK {
		t.Fatalf("delete: %v", res.Err)
	}
	if tr.NodeCount() != 4 || len(tr.Containers()) != 0 || tr.EphemeralCount() != 0 {
		t.Fatalf("subtree left behind: %s", dump(tr))
	}
	if got := eventsString(ev); got != "1:deleted:/a/b/c" {
		t.Fatalf("events %q", got)
	}
	checkInvariants(t, tr)
}

func TestApplySetData(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Time: 100, Type: jute.OpCreate, Path: "/a", Data: []byte("x"), ACL: OpenACLUnsafe, Version: 1})
	before := tr.DataBytes()
	res := applyTxn(t, tr, Txn{Zxid: 2, Time: 200, Type: jute.OpSetData, Path: "/a", Data: []byte("hello world"), Version: 7})
	want := jute.Stat{Czxid: 1, Mzxid: 2, Pzxid: 1, Ctime: 100, Mtime: 200, Version: 7, DataLength: 11}
	if res.Err != jute.ErrOK || res.Stat != want || res.Path != "/a" {
		t.Fatalf("setData result %+v, want stat %+v", res, want)
	}
	n, _ := tr.Get("/a")
	if st := n.Stat(); st != want || string(n.Data()) != "hello world" {
		t.Fatalf("stat %+v data %q", st, n.Data())
	}
	if tr.DataBytes()-before != 10 {
		t.Fatalf("DataBytes grew by %d", tr.DataBytes()-before)
	}
	// The parent is untouched.
	if st := stat(t, tr, "/"); st.Pzxid != 1 || st.Mzxid != 0 {
		t.Fatalf("root %+v", st)
	}
	if res := applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpSetData, Path: "/b", Version: 1}); res.Err != jute.ErrNoNode {
		t.Fatalf("setData missing: %v", res.Err)
	}
	checkInvariants(t, tr)
}

func TestApplySetACL(t *testing.T) {
	tr := New()
	digestACL := []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: "u:p"}}}
	applyTxn(t, tr, Txn{Zxid: 1, Time: 100, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, tr, Txn{Zxid: 2, Time: 100, Type: jute.OpCreate, Path: "/b", ACL: digestACL, Version: 2})
	res := applyTxn(t, tr, Txn{Zxid: 3, Time: 300, Type: jute.OpSetACL, Path: "/a", ACL: digestACL, Version: 4})
	want := jute.Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 100, Mtime: 100, Aversion: 4}
	if res.Err != jute.ErrOK || res.Stat != want {
		t.Fatalf("setACL result %+v, want stat %+v", res, want)
	}
	a, _ := tr.Get("/a")
	b, _ := tr.Get("/b")
	if !slices.Equal(a.ACL(), digestACL) {
		t.Fatalf("acl %v", a.ACL())
	}
	// Interned: both nodes share one list.
	if tr.node(a.id).acl != tr.node(b.id).acl {
		t.Fatalf("equal ACLs not interned")
	}
	checkInvariants(t, tr)
	if res := applyTxn(t, tr, Txn{Zxid: 4, Type: jute.OpSetACL, Path: "/zz", ACL: digestACL, Version: 1}); res.Err != jute.ErrNoNode {
		t.Fatalf("setACL missing: %v", res.Err)
	}
	// Deleting both frees the list for reuse.
	applyTxn(t, tr, Txn{Zxid: 5, Type: jute.OpDelete, Path: "/a"})
	applyTxn(t, tr, Txn{Zxid: 6, Type: jute.OpDelete, Path: "/b"})
	checkInvariants(t, tr)
	if _, ok := tr.acls.index[aclKey(digestACL)]; ok {
		t.Fatalf("unused ACL still interned")
	}
}

// TestACLInterningKeys: lists that differ only in ways a naive key would
// lose (perms above a byte, NUL inside a scheme or id) must not share an
// entry.
func TestACLInterningKeys(t *testing.T) {
	lists := [][]jute.ACL{
		{{Perms: 31, ID: AnyoneID}},
		{{Perms: 31 + 256, ID: AnyoneID}},
		{{Perms: 1, ID: jute.ID{Scheme: "a\x00b", ID: ""}}},
		{{Perms: 1, ID: jute.ID{Scheme: "a", ID: "b\x00"}}},
		{{Perms: 1, ID: jute.ID{Scheme: "a", ID: "b"}}, {Perms: 1, ID: jute.ID{Scheme: "c", ID: "d"}}},
		{{Perms: 1, ID: jute.ID{Scheme: "a", ID: "b\x00\x01c\x00d"}}},
		{},
	}
	tr := New()
	for i, l := range lists {
		applyTxn(t, tr, Txn{Zxid: int64(i + 1), Type: jute.OpCreate, Path: fmt.Sprintf("/n%d", i), ACL: l, Version: int32(i + 1)})
	}
	for i, l := range lists {
		n, _ := tr.Get(fmt.Sprintf("/n%d", i))
		if !slices.Equal(n.ACL(), l) {
			t.Errorf("/n%d: acl %v, want %v", i, n.ACL(), l)
		}
	}
	checkInvariants(t, tr)
}

func TestApplySessions(t *testing.T) {
	const s1, s2 = 0x100, 0x200
	e := newEnv(t)
	e.session(s1)
	e.session(s2)
	if !e.tr.HasSession(s1) || e.tr.Sessions()[s1] != 30000 {
		t.Fatalf("session table %v", e.tr.Sessions())
	}
	e.create("/p", "", jute.ModePersistent)
	mk := func(s int64, path string, mode int32) string {
		_, res, _ := e.do(createReq(s, path, "", mode))
		if res.Err != jute.ErrOK {
			t.Fatalf("create %s: %v", path, res.Err)
		}
		return res.Path
	}
	a := mk(s1, "/p/a", jute.ModeEphemeral)
	b := mk(s1, "/p/b-", jute.ModeEphemeralSequential)
	c := mk(s2, "/p/c", jute.ModeEphemeral)
	if st := e.stat(a); st.EphemeralOwner != s1 {
		t.Fatalf("ephemeral owner %#x", st.EphemeralOwner)
	}
	if got := e.tr.Ephemerals(s1); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("Ephemerals(s1) = %v", got)
	}
	if e.tr.EphemeralCount() != 3 {
		t.Fatalf("EphemeralCount %d", e.tr.EphemeralCount())
	}
	if got := e.tr.EphemeralsBySession(); len(got) != 2 || !slices.Equal(got[s2], []string{c}) {
		t.Fatalf("EphemeralsBySession %v", got)
	}
	e.tr.Watches.AddData(a, 7)
	e.tr.Watches.AddChild("/p", 8)
	x, res, ev := e.do(Request{Session: s1, Op: jute.OpCloseSession})
	if res.Err != jute.ErrOK || !slices.Equal(x.Paths, []string{a, b}) {
		t.Fatalf("closeSession: %+v paths %v", res, x.Paths)
	}
	if e.tr.HasSession(s1) || len(e.tr.Ephemerals(s1)) != 0 {
		t.Fatalf("session s1 survives")
	}
	for _, p := range []string{a, b} {
		if _, ok := e.tr.Get(p); ok {
			t.Fatalf("%s survives its session", p)
		}
	}
	if _, ok := e.tr.Get(c); !ok {
		t.Fatalf("other session's ephemeral deleted")
	}
	if st := e.stat("/p"); st.Pzxid != x.Zxid || st.NumChildren != 1 {
		t.Fatalf("/p after closeSession %+v", st)
	}
	if got, want := eventsString(ev), "7:deleted:"+a+" 8:children:/p"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	// An ephemeral the txn does not list (it should never happen) still
	// goes with its session.
	applyTxn(t, e.tr, Txn{Zxid: 100, Session: s2, Type: jute.OpCloseSession})
	if _, ok := e.tr.Get(c); ok || e.tr.HasSession(s2) {
		t.Fatalf("unlisted ephemeral or session survives")
	}
	checkInvariants(t, e.tr)
}

func TestApplyMulti(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	x := Txn{Zxid: 2, Time: 50, Session: 3, Cxid: 4, Type: jute.OpMulti, Ops: []Txn{
		{Type: jute.OpCreate, Path: "/a/b", Data: []byte("1"), ACL: OpenACLUnsafe, Version: 1},
		{Type: jute.OpSetData, Path: "/a/b", Data: []byte("22"), Version: 1},
		{Type: jute.OpCheck, Path: "/a/b", Version: 1},
		{Type: jute.OpCreate, Path: "/a/c", ACL: OpenACLUnsafe, Version: 2},
		{Type: jute.OpDelete, Path: "/a/c"},
	}}
	orig := fmt.Sprintf("%+v", x)
	res := applyTxn(t, tr, x)
	if fmt.Sprintf("%+v", x) != orig {
		t.Fatalf("Apply modified its txn")
	}
	if res.Err != jute.ErrOK || res.Op != jute.OpMulti || len(res.Multi) != 5 {
		t.Fatalf("multi result %+v", res)
	}
	for i, r := range res.Multi {
		if r.Err != jute.ErrOK || r.Op != x.Ops[i].Type {
			t.Fatalf("sub %d: %+v", i, r)
		}
	}
	// Every op ran with the multi's zxid and time, in order.
	want := jute.Stat{Czxid: 2, Mzxid: 2, Pzxid: 2, Ctime: 50, Mtime: 50, Version: 1, DataLength: 2}
	if st := stat(t, tr, "/a/b"); st != want {
		t.Fatalf("/a/b %+v, want %+v", st, want)
	}
	if res.Multi[0].Stat.Version != 0 || res.Multi[1].Stat.Version != 1 {
		t.Fatalf("sub stats %+v", res.Multi)
	}
	if _, ok := tr.Get("/a/c"); ok {
		t.Fatalf("/a/c survives")
	}

	// A failed multi is all error txns: nothing applies.
	before := dump(tr)
	res = applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpMulti, Ops: []Txn{
		{Type: jute.OpError, Err: jute.ErrOK},
		{Type: jute.OpError, Err: jute.ErrBadVersion},
		{Type: jute.OpError, Err: jute.ErrRuntimeInconsistency},
	}})
	if res.Err != jute.ErrBadVersion || len(res.Multi) != 3 ||
		res.Multi[0].Err != jute.ErrOK || res.Multi[1].Err != jute.ErrBadVersion || res.Multi[2].Err != jute.ErrRuntimeInconsistency {
		t.Fatalf("failed multi result %+v", res)
	}
	for _, r := range res.Multi {
		if r.Op != jute.OpError {
			t.Fatalf("failed multi sub op %v", r.Op)
		}
	}
	if after := dump(tr); after != before {
		t.Fatalf("failed multi changed the tree: %s", diffLines(after, before))
	}
	if tr.LastZxid() != 3 {
		t.Fatalf("LastZxid %d", tr.LastZxid())
	}
	// Sub-transactions a multi cannot hold are refused, not run.
	res = applyTxn(t, tr, Txn{Zxid: 4, Session: 5, Type: jute.OpMulti, Ops: []Txn{
		{Type: jute.OpCloseSession},
		{Type: jute.OpMulti},
		{Type: jute.OpSetACL, Path: "/a", ACL: ReadACLUnsafe, Version: 1},
	}})
	for _, r := range res.Multi {
		if r.Err != jute.ErrBadArguments {
			t.Fatalf("bad sub-op result %+v", res.Multi)
		}
	}
	checkInvariants(t, tr)
}

func TestApplyOtherTypes(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	before := dump(tr)
	if res := applyTxn(t, tr, Txn{Zxid: 2, Type: jute.OpCheck, Path: "/a", Version: 0}); res.Err != jute.ErrOK || res.Stat.Czxid != 1 {
		t.Fatalf("check: %+v", res)
	}
	if res := applyTxn(t, tr, Txn{Zxid: 3, Type: jute.OpError, Err: jute.ErrNoNode}); res.Err != jute.ErrNoNode || res.Op != jute.OpError {
		t.Fatalf("error txn: %+v", res)
	}
	if res := applyTxn(t, tr, Txn{Zxid: 4, Type: jute.OpSync}); res.Err != jute.ErrOK {
		t.Fatalf("sync: %+v", res)
	}
	if after := dump(tr); after != before {
		t.Fatalf("check/error/sync changed the tree: %s", diffLines(after, before))
	}
	if tr.LastZxid() != 4 {
		t.Fatalf("LastZxid %d", tr.LastZxid())
	}
	// LastZxid never goes back (replay of older txns).
	applyTxn(t, tr, Txn{Zxid: 2, Type: jute.OpSync})
	if tr.LastZxid() != 4 {
		t.Fatalf("LastZxid went back to %d", tr.LastZxid())
	}
}

func TestContainersAndTTL(t *testing.T) {
	e := newEnv(t)
	e.session(0x55)
	_, res, _ := e.do(Request{Session: 0x55, Op: jute.OpCreateContainer, Create: &jute.CreateRequest{Path: "/c", ACL: OpenACLUnsafe, Flags: jute.ModeContainer}})
	if res.Err != jute.ErrOK {
		t.Fatalf("createContainer: %v", res.Err)
	}
	_, res, _ = e.do(Request{Session: 0x55, Op: jute.OpCreateTTL, Create: &jute.CreateRequest{Path: "/t", ACL: OpenACLUnsafe, Flags: jute.ModePersistentWithTTL, TTL: 5000, HasTTL: true}})
	if res.Err != jute.ErrOK {
		t.Fatalf("createTTL: %v", res.Err)
	}
	_, res, _ = e.do(Request{Session: 0x55, Op: jute.OpCreateTTL, Create: &jute.CreateRequest{Path: "/c/t-", ACL: OpenACLUnsafe, Flags: jute.ModePersistentSequentialWithTTL, TTL: jute.TTLMax, HasTTL: true}})
	if res.Err != jute.ErrOK || res.Path != "/c/t-0000000000" {
		t.Fatalf("createTTL sequential: %v %s", res.Err, res.Path)
	}
	if got := e.tr.Containers(); !slices.Equal(got, []string{"/c"}) {
		t.Fatalf("Containers %v", got)
	}
	if got := e.tr.TTLNodes(); !slices.Equal(got, []string{"/c/t-0000000000", "/t"}) {
		t.Fatalf("TTLNodes %v", got)
	}
	// Clients see ephemeralOwner 0; Owner keeps the encoding.
	for path, owner := range map[string]int64{"/c": jute.ContainerEphemeralOwner, "/t": jute.TTLOwner(5000), "/c/t-0000000000": jute.TTLOwner(jute.TTLMax)} {
		n, _ := e.tr.Get(path)
		if n.Stat().EphemeralOwner != 0 || n.Owner() != owner {
			t.Errorf("%s: stat owner %#x, Owner %#x, want 0 and %#x", path, n.Stat().EphemeralOwner, n.Owner(), owner)
		}
	}
	if n, _ := e.tr.Get("/t"); jute.TTLOf(n.Owner()) != 5000 {
		t.Fatalf("TTLOf %d", jute.TTLOf(n.Owner()))
	}
	if e.tr.EphemeralCount() != 0 || len(e.tr.Ephemerals(0x55)) != 0 {
		t.Fatalf("containers or TTL nodes counted as ephemerals")
	}
	// Closing the creating session leaves them.
	e.do(Request{Session: 0x55, Op: jute.OpCloseSession})
	if len(e.tr.Containers()) != 1 || len(e.tr.TTLNodes()) != 2 {
		t.Fatalf("closeSession removed containers or TTL nodes")
	}
	// The reaper's deleteContainer removes them from the sets.
	for _, p := range []string{"/c/t-0000000000", "/c", "/t"} {
		if _, res, _ := e.do(Request{Op: jute.OpDeleteContainer, Delete: &jute.PathVersionRequest{Path: p, Version: -1}}); res.Err != jute.ErrOK {
			t.Fatalf("deleteContainer %s: %v", p, res.Err)
		}
	}
	if len(e.tr.Containers()) != 0 || len(e.tr.TTLNodes()) != 0 {
		t.Fatalf("sets not emptied: %v %v", e.tr.Containers(), e.tr.TTLNodes())
	}
	checkInvariants(t, e.tr)
}

func TestNodeReads(t *testing.T) {
	e := newEnv(t)
	e.create("/a", "", 0)
	for _, p := range []string{"/a/c", "/a/b", "/a/b/x", "/a/b/y", "/a/b/y/z"} {
		e.create(p, "", 0)
	}
	n, _ := e.tr.Get("/a")
	if got := n.Children([]string{"keep"}); !slices.Equal(got, []string{"keep", "b", "c"}) {
		t.Fatalf("Children %v", got)
	}
	if n.NumChildren() != 2 || n.CountDescendants() != 5 {
		t.Fatalf("NumChildren %d CountDescendants %d", n.NumChildren(), n.CountDescendants())
	}
	if root, _ := e.tr.Get("/"); root.CountDescendants() != 9 {
		t.Fatalf("root CountDescendants %d", root.CountDescendants())
	}
	if _, ok := e.tr.Get("/nope"); ok {
		t.Fatalf("Get of a missing node succeeded")
	}
	if e.tr.NodeCount() != 10 {
		t.Fatalf("NodeCount %d", e.tr.NodeCount())
	}
}

// TestSlabGrowth creates and deletes enough nodes to span several chunks
// and reuse freed slots.
func TestSlabGrowth(t *testing.T) {
	tr := New()
	zxid := int64(0)
	const n = 3*chunkSize + 17
	for i := 0; i < n; i++ {
		zxid++
		if res := applyTxn(t, tr, Txn{Zxid: zxid, Type: jute.OpCreate, Path: fmt.Sprintf("/n%d", i), Data: []byte{byte(i)}, ACL: OpenACLUnsafe, Version: int32(i + 1)}); res.Err != jute.ErrOK {
			t.Fatal(res.Err)
		}
	}
	for i := 0; i < n; i += 2 {
		zxid++
		applyTxn(t, tr, Txn{Zxid: zxid, Type: jute.OpDelete, Path: fmt.Sprintf("/n%d", i)})
	}
	chunks := len(tr.chunks)
	for i := 0; i < n; i += 2 {
		zxid++
		applyTxn(t, tr, Txn{Zxid: zxid, Type: jute.OpCreate, Path: fmt.Sprintf("/m%d", i), ACL: OpenACLUnsafe, Version: int32(n + i + 1)})
	}
	if len(tr.chunks) != chunks {
		t.Fatalf("freed slots not reused: %d chunks, was %d", len(tr.chunks), chunks)
	}
	for i := 1; i < n; i += 2 {
		node, ok := tr.Get(fmt.Sprintf("/n%d", i))
		if !ok || !bytes.Equal(node.Data(), []byte{byte(i)}) {
			t.Fatalf("/n%d lost", i)
		}
	}
	checkInvariants(t, tr)
}

func TestDigest(t *testing.T) {
	build := func(order []int) *Tree {
		tr := New()
		txns := []Txn{
			{Zxid: 1, Time: 10, Type: jute.OpCreateSession, Session: 7, Timeout: 4000},
			{Zxid: 2, Time: 11, Type: jute.OpCreate, Path: "/a", Data: []byte("a"), ACL: OpenACLUnsafe, Version: 1},
			{Zxid: 3, Time: 12, Type: jute.OpCreate, Path: "/b", Data: []byte("b"), ACL: ReadACLUnsafe, Version: 2, Owner: 7},
			{Zxid: 4, Time: 13, Type: jute.OpCreateSession, Session: 8, Timeout: 5000},
		}
		for _, i := range order {
			applyTxn(t, tr, txns[i])
		}
		return tr
	}
	a := build([]int{0, 1, 2, 3})
	b := build([]int{3, 2, 1, 0}) // different slab slots and map histories
	if dump(a) != dump(b) {
		t.Fatalf("orders differ: %s", diffLines(dump(b), dump(a)))
	}
	if a.Digest() != b.Digest() {
		t.Fatalf("same state, digests %#x and %#x", a.Digest(), b.Digest())
	}
	if a.Digest() != a.Digest() {
		t.Fatalf("digest not stable")
	}
	base := a.Digest()
	// Every replicated field moves it.
	changes := []struct {
		name string
		txn  Txn
	}{
		{"data", Txn{Zxid: 9, Time: 13, Type: jute.OpSetData, Path: "/a", Data: []byte("a"), Version: 0}},
		{"version", Txn{Zxid: 2, Time: 11, Type: jute.OpSetData, Path: "/a", Data: []byte("a"), Version: 1}},
		{"acl", Txn{Zxid: 9, Type: jute.OpSetACL, Path: "/a", ACL: ReadACLUnsafe, Version: 0}},
		{"aversion", Txn{Zxid: 9, Type: jute.OpSetACL, Path: "/a", ACL: OpenACLUnsafe, Version: 1}},
		{"node", Txn{Zxid: 9, Type: jute.OpCreate, Path: "/c", ACL: OpenACLUnsafe, Version: 1}},
		{"pzxid", Txn{Zxid: 9, Type: jute.OpDelete, Path: "/zz"}},
		{"session", Txn{Zxid: 9, Type: jute.OpCreateSession, Session: 9, Timeout: 1}},
		{"timeout", Txn{Zxid: 9, Type: jute.OpCreateSession, Session: 7, Timeout: 1}},
	}
	for _, c := range changes {
		tr := build([]int{0, 1, 2, 3})
		applyTxn(t, tr, c.txn)
		if tr.Digest() == base {
			t.Errorf("%s change left the digest at %#x", c.name, base)
		}
	}
	// Null data is not empty data.
	nullTree, emptyTree := New(), New()
	applyTxn(t, nullTree, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/n", Data: nil, ACL: OpenACLUnsafe, Version: 1})
	applyTxn(t, emptyTree, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/n", Data: []byte{}, ACL: OpenACLUnsafe, Version: 1})
	if nullTree.Digest() == emptyTree.Digest() {
		t.Errorf("digest blind to null versus empty data")
	}
	// The watch tables are not replicated state.
	a.Watches.AddData("/a", 1)
	if a.Digest() != base {
		t.Errorf("a watch changed the digest")
	}
	// A known value pins the layout (DigestVersion 2): if this changes,
	// bump DigestVersion.
	if got := New().Digest(); got != freshDigest {
		t.Errorf("fresh tree digest %#x, want %#x (layout changed? bump DigestVersion)", got, freshDigest)
	}
}

const freshDigest uint64 = 0x3684553975a83bf0

// TestReadsDoNotAllocate: the read path (netio's getData, exists,
// getACL) allocates nothing.
func TestReadsDoNotAllocate(t *testing.T) {
	e := newEnv(t)
	e.create("/bench", "some data", 0)
	e.create("/bench/child", "x", 0)
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		n, ok := e.tr.Get("/bench")
		if !ok {
			t.Fatal("missing")
		}
		st := n.Stat()
		sink += int(st.Version) + len(n.Data()) + len(n.ACL()) + n.NumChildren() + int(n.Owner())
	})
	if allocs != 0 {
		t.Fatalf("Get+Stat+Data+ACL: %v allocs per run, want 0", allocs)
	}
	_ = sink
}

// TestApplySetDataAllocations: a setData that fires no watch allocates
// nothing in the tree (the write path's steady state): the new blob comes
// from the arena's free list, where the old one went.
func TestApplySetDataAllocations(t *testing.T) {
	tr := New()
	applyTxn(t, tr, Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", ACL: OpenACLUnsafe, Version: 1})
	x := Txn{Zxid: 2, Type: jute.OpSetData, Path: "/a", Data: make([]byte, 1024), Version: 1}
	ev := make([]Event, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		x.Zxid++
		_, ev = tr.Apply(&x, ev[:0])
	})
	if allocs != 0 {
		t.Fatalf("setData apply: %v allocs per run, want 0", allocs)
	}
}

func BenchmarkGet(b *testing.B) {
	tr := New()
	for i := 0; i < 10000; i++ {
		res, _ := tr.Apply(&Txn{Zxid: int64(i + 1), Type: jute.OpCreate, Path: fmt.Sprintf("/node%05d", i), Data: make([]byte, 100), ACL: OpenACLUnsafe, Version: int32(i + 1)}, nil)
		if res.Err != jute.ErrOK {
			b.Fatal(res.Err)
		}
	}
	paths := make([]string, 1024)
	for i := range paths {
		paths[i] = fmt.Sprintf("/node%05d", (i*7919)%10000)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink int
	for i := 0; b.Loop(); i++ {
		n, ok := tr.Get(paths[i&1023])
		if !ok {
			b.Fatal("missing")
		}
		st := n.Stat()
		sink += int(st.DataLength) + len(n.Data()) + len(n.ACL())
	}
	_ = sink
}

func BenchmarkApplySetData1KB(b *testing.B) {
	tr := New()
	tr.Apply(&Txn{Zxid: 1, Type: jute.OpCreate, Path: "/bench", ACL: OpenACLUnsafe, Version: 1}, nil)
	data := make([]byte, 1024)
	x := Txn{Zxid: 1, Time: 1, Type: jute.OpSetData, Path: "/bench", Data: data}
	ev := make([]Event, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		x.Zxid++
		x.Version++
		var res Result
		res, ev = tr.Apply(&x, ev[:0])
		if res.Err != jute.ErrOK {
			b.Fatal(res.Err)
		}
	}
}

var (
	replaySeeds = flag.Int("replay.seeds", 24, "TestIdempotentReplay: number of seeds")
	replayOps   = flag.Int("replay.ops", 300, "TestIdempotentReplay: transactions per seed")
	replaySeed  = flag.Int("replay.seed", 0, "TestIdempotentReplay: run only this seed")
)

// TestIdempotentReplay generates random valid transaction sequences (via
// the Preparer, with prepared-but-unapplied batches so the overlay is
// exercised), applies each to tree A in full, and to tree B up to a point
// k, then replays B from an earlier point j from the encoded log, as
// recovery from a snapshot taken at k with the log replayed from j does.
// Both trees must end in the same state. The seed is in the subtest name.
func TestIdempotentReplay(t *testing.T) {
	seeds, ops := *replaySeeds, *replayOps
	if testing.Short() {
		seeds, ops = 6, 200
	}
	first := *replaySeed
	if first != 0 {
		seeds = 1
	} else {
		first = 1
	}
	for seed := first; seed < first+seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x7a6b64))
			txns, a := randomHistory(t, rng, ops)
			checkInvariants(t, a)
			log := make([][]byte, len(txns))
			for i := range txns {
				var w jute.Writer
				txns[i].Encode(&w)
				log[i] = w.B
			}
			want := dump(a)
			for trial := 0; trial < 8; trial++ {
				k := rng.IntN(len(txns) + 1)
				j := rng.IntN(k + 1)
				b := New()
				for i := 0; i < k; i++ {
					b.Apply(&txns[i], nil)
				}
				for i := j; i < len(txns); i++ {
					x, err := DecodeTxn(log[i])
					if err != nil {
						t.Fatalf("decode txn %d: %v", i, err)
					}
					b.Apply(&x, nil)
				}
				checkInvariants(t, b)
				if got := dump(b); got != want {
					t.Fatalf("snapshot at %d, replay from %d: trees differ: %s", k, j, diffLines(got, want))
				}
				if a.Digest() != b.Digest() {
					t.Fatalf("snapshot at %d, replay from %d: same dump, digests differ", k, j)
				}
			}
		})
	}
}

// randomHistory drives a Preparer and a tree with random requests and
// returns the transactions in order and the tree they built. Every
// non-error transaction must apply cleanly: prepare and apply agree.
func randomHistory(t *testing.T, rng *rand.Rand, n int) ([]Txn, *Tree) {
	t.Helper()
	tr := New()
	p := NewPreparer(tr, 0)
	p.ExtendedTypes = true
	now := int64(1_700_000_000_000)
	names := []string{"a", "b", "c"}
	randomPath := func() string {
		path := ""
		for d := 1 + rng.IntN(3); d > 0; d-- {
			path += "/" + names[rng.IntN(len(names))]
		}
		return path
	}
	existing := func() string {
		paths := slices.Sorted(maps.Keys(allPaths(tr)))
		return paths[rng.IntN(len(paths))]
	}
	anyPath := func() string {
		if rng.IntN(3) == 0 {
			return randomPath()
		}
		return existing()
	}
	version := func() int32 { return int32(rng.IntN(4)) - 1 }
	acls := [][]jute.ACL{OpenACLUnsafe, ReadACLUnsafe,
		{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: "u:x"}}, {Perms: jute.PermRead, ID: AnyoneID}}}
	sessions := []int64{0x1000, 0x2000, 0x3000}
	createOp := func() jute.MultiOp {
		mode := int32(rng.IntN(7))
		op := jute.OpCreate
		var ttl int64
		switch {
		case mode == jute.ModeContainer && rng.IntN(2) == 0:
			op = jute.OpCreateContainer
		case mode >= jute.ModePersistentWithTTL:
			op, ttl = jute.OpCreateTTL, int64(1+rng.IntN(10000))
		}
		path := randomPath()
		if mode == jute.ModePersistentSequential || mode == jute.ModeEphemeralSequential || mode == jute.ModePersistentSequentialWithTTL {
			path = anyPath() + "/"
			if path == "//" {
				path = "/"
			}
		}
		return jute.MultiOp{Op: op, Create: jute.CreateRequest{Path: path, Data: []byte(fmt.Sprint(rng.IntN(100))), ACL: acls[rng.IntN(len(acls))], Flags: mode, TTL: ttl, HasTTL: op == jute.OpCreateTTL}}
	}
	subOp := func() jute.MultiOp {
		switch rng.IntN(4) {
		case 0:
			return createOp()
		case 1:
			return mDelete(anyPath(), version())
		case 2:
			return mSetData(anyPath(), fmt.Sprint(rng.IntN(100)), version())
		}
		return mCheck(anyPath(), version())
	}
	var txns []Txn
	for len(txns) < n {
		// Prepare a batch before applying any of it.
		batch := 1 + rng.IntN(4)
		start := len(txns)
		for i := 0; i < batch; i++ {
			s := sessions[rng.IntN(len(sessions))]
			r := Request{Session: s, Auth: []jute.ID{{Scheme: "digest", ID: "u:x"}}}
			switch k := rng.IntN(20); {
			case k < 6:
				op := createOp()
				r.Op, r.Create = op.Op, &op.Create
			case k < 9:
				r.Op, r.Delete = jute.OpDelete, &jute.PathVersionRequest{Path: anyPath(), Version: version()}
			case k < 12:
				r.Op, r.SetData = jute.OpSetData, &jute.SetDataRequest{Path: anyPath(), Data: []byte(fmt.Sprint(rng.IntN(100))), Version: version()}
			case k < 13:
				r.Op, r.SetACL = jute.OpSetACL, &jute.SetACLRequest{Path: anyPath(), ACL: acls[rng.IntN(len(acls))], Version: version()}
			case k < 16:
				m := &jute.MultiRequest{}
				for j := rng.IntN(4); j >= 0; j-- {
					m.Ops = append(m.Ops, subOp())
				}
				r.Op, r.Multi = jute.OpMulti, m
			case k < 17:
				r.Op, r.Timeout = jute.OpCreateSession, int32(4000+rng.IntN(4)*1000)
			case k < 18:
				r.Op = jute.OpCloseSession
			case k < 19:
				r.Op, r.Delete = jute.OpDeleteContainer, &jute.PathVersionRequest{Path: anyPath(), Version: -1}
			default:
				r.Op, r.Delete = jute.OpCheck, &jute.PathVersionRequest{Path: anyPath(), Version: version()}
			}
			now += int64(rng.IntN(50))
			txns = append(txns, p.Prepare(&r, now))
		}
		for i := start; i < len(txns); i++ {
			x := &txns[i]
			res, _ := tr.Apply(x, nil)
			if x.Type != jute.OpError && res.Err != jute.ErrOK {
				if x.Type != jute.OpMulti || !multiFailed(x) {
					t.Fatalf("txn %d (%v %s) prepared fine but applied with %v: %+v", i, x.Type, x.Path, res.Err, res)
				}
			}
		}
		p.Applied(txns[len(txns)-1].Zxid)
		if p.Pending() != 0 {
			t.Fatalf("overlay holds %d entries with nothing in flight", p.Pending())
		}
	}
	return txns, tr
}

func multiFailed(x *Txn) bool {
	for _, s := range x.Ops {
		if s.Type == jute.OpError && s.Err != jute.ErrOK {
			return true
		}
	}
	return false
}

// BenchmarkNodeDigest1KB: one node's share of the digest, which a setData
// computes twice (before and after).
func BenchmarkNodeDigest1KB(b *testing.B) {
	tr := New()
	tr.Apply(&Txn{Zxid: 1, Type: jute.OpCreate, Path: "/a", Data: make([]byte, 1024), ACL: OpenACLUnsafe, Version: 1}, nil)
	n := tr.node(tr.lookup("/a"))
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		tr.digest += tr.nodeDigest(n)
	}
}
