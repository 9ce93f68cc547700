package tree

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"zkd/netio/jute"
)

// env is a tree with its preparer, driven the way the pipeline drives them:
// prepare, apply, Applied.
type env struct {
	t    *testing.T
	tr   *Tree
	prep *Preparer
	now  int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tr := New()
	p := NewPreparer(tr, tr.LastZxid())
	p.ExtendedTypes = true
	return &env{t: t, tr: tr, prep: p, now: 1000}
}

// do prepares and applies one request and returns the txn, the result and
// the events it fired.
func (e *env) do(r Request) (Txn, Result, []Event) {
	e.t.Helper()
	e.now++
	x := e.prep.Prepare(&r, e.now)
	res, ev := e.tr.Apply(&x, nil)
	e.prep.Applied(x.Zxid)
	return x, res, ev
}

// session creates a session.
func (e *env) session(id int64) {
	e.t.Helper()
	if _, res, _ := e.do(Request{Session: id, Op: jute.OpCreateSession, Timeout: 30000}); res.Err != jute.ErrOK {
		e.t.Fatalf("createSession %#x: %v", id, res.Err)
	}
}

// create makes a node and fails the test unless it works; it returns the
// final path.
func (e *env) create(path, data string, mode int32) string {
	e.t.Helper()
	_, res, _ := e.do(createReq(1, path, data, mode))
	if res.Err != jute.ErrOK {
		e.t.Fatalf("create %s: %v", path, res.Err)
	}
	return res.Path
}

func (e *env) stat(path string) jute.Stat {
	e.t.Helper()
	n, ok := e.tr.Get(path)
	if !ok {
		e.t.Fatalf("%s: no node", path)
	}
	return n.Stat()
}

func createReq(session int64, path, data string, mode int32) Request {
	return Request{Session: session, Op: jute.OpCreate2, Create: &jute.CreateRequest{
		Path: path, Data: []byte(data), ACL: OpenACLUnsafe, Flags: mode,
	}}
}

func createACLReq(session int64, path string, acl []jute.ACL, auth []jute.ID) Request {
	return Request{Session: session, Op: jute.OpCreate, Auth: auth, Create: &jute.CreateRequest{
		Path: path, Data: []byte("d"), ACL: acl, Flags: jute.ModePersistent,
	}}
}

func deleteReq(path string, version int32) Request {
	return Request{Session: 1, Op: jute.OpDelete, Delete: &jute.PathVersionRequest{Path: path, Version: version}}
}

func setDataReq(path, data string, version int32) Request {
	return Request{Session: 1, Op: jute.OpSetData, SetData: &jute.SetDataRequest{Path: path, Data: []byte(data), Version: version}}
}

func setACLReq(path string, acl []jute.ACL, version int32) Request {
	return Request{Session: 1, Op: jute.OpSetACL, SetACL: &jute.SetACLRequest{Path: path, ACL: acl, Version: version}}
}

func checkReq(path string, version int32) Request {
	return Request{Session: 1, Op: jute.OpCheck, Delete: &jute.PathVersionRequest{Path: path, Version: version}}
}

func multiReq(ops ...jute.MultiOp) Request {
	return Request{Session: 1, Op: jute.OpMulti, Multi: &jute.MultiRequest{Ops: ops}}
}

func mCreate(path, data string, mode int32) jute.MultiOp {
	return jute.MultiOp{Op: jute.OpCreate, Create: jute.CreateRequest{Path: path, Data: []byte(data), ACL: OpenACLUnsafe, Flags: mode}}
}

func mDelete(path string, version int32) jute.MultiOp {
	return jute.MultiOp{Op: jute.OpDelete, Delete: jute.PathVersionRequest{Path: path, Version: version}}
}

func mSetData(path, data string, version int32) jute.MultiOp {
	return jute.MultiOp{Op: jute.OpSetData, SetData: jute.SetDataRequest{Path: path, Data: []byte(data), Version: version}}
}

func mCheck(path string, version int32) jute.MultiOp {
	return jute.MultiOp{Op: jute.OpCheck, Delete: jute.PathVersionRequest{Path: path, Version: version}}
}

// allPaths maps every node's path to its id, found by walking the child
// lists (not through the path index).
func allPaths(tr *Tree) map[string]nodeID {
	out := make(map[string]nodeID)
	tr.walk(func(path string, id nodeID) { out[strings.Clone(path)] = id })
	return out
}

// dump is a canonical text form of everything the tree replicates: every
// node in path order with its data, full stored and client Stat, raw
// owner and ACL, then the session table and the ephemeral, container and
// TTL indexes. Two trees are the same state when their dumps are equal.
func dump(tr *Tree) string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(allPaths(tr))) {
		n, _ := tr.Get(p)
		x := tr.node(n.id)
		data := fmt.Sprintf("%q", n.Data())
		if n.Data() == nil {
			data = "null"
		}
		fmt.Fprintf(&b, "%s data=%s stat=%+v stored{cversion=%d owner=%#x} acl=%v children=%v\n",
			p, data, n.Stat(), x.cversion, n.Owner(), n.ACL(), n.Children(nil))
		// The parent link and the child list must agree with the path index.
		if p != "/" {
			parent, _ := SplitPath(p)
			pn, ok := tr.Get(parent)
			if !ok || tr.lookup(p) != n.id || x.parent != pn.id {
				fmt.Fprintf(&b, "  BROKEN LINK %s\n", p)
			}
		}
	}
	sessions := tr.Sessions()
	ids := make([]int64, 0, len(sessions))
	for s := range sessions {
		ids = append(ids, s)
	}
	slices.Sort(ids)
	for _, s := range ids {
		fmt.Fprintf(&b, "session %#x timeout=%d ephemerals=%v\n", s, sessions[s], tr.Ephemerals(s))
	}
	eph := tr.EphemeralsBySession()
	owners := make([]int64, 0, len(eph))
	for s := range eph {
		owners = append(owners, s)
	}
	slices.Sort(owners)
	for _, s := range owners {
		fmt.Fprintf(&b, "ephemerals %#x %v\n", s, eph[s])
	}
	fmt.Fprintf(&b, "containers %v\nttls %v\nnodes %d bytes %d\n", tr.Containers(), tr.TTLNodes(), tr.NodeCount(), tr.DataBytes())
	return b.String()
}

// diffLines returns the first differing line of two dumps, for messages.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  got  %s\n  want %s", i, x, y)
		}
	}
	return ""
}

func eventsString(ev []Event) string {
	var b bytes.Buffer
	for i, e := range ev {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d:%s:%s", e.Watcher, eventName(e.Type), e.Path)
	}
	return b.String()
}

func eventName(t jute.EventType) string {
	switch t {
	case jute.EventNodeCreated:
		return "created"
	case jute.EventNodeDeleted:
		return "deleted"
	case jute.EventNodeDataChanged:
		return "data"
	case jute.EventNodeChildrenChanged:
		return "children"
	}
	return fmt.Sprint(int32(t))
}
