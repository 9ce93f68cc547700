package tree

import (
	"sort"

	"zkd/netio/jute"
)

// Tree is the znode database. It is not safe for concurrent use: the
// caller runs Apply with reads excluded (netio uses a RWMutex: reads share
// it, Apply holds it alone). Watches has its own lock so reads may register
// watches while sharing the tree.
type Tree struct {
	chunks [][]node
	free   []nodeID
	next   nodeID
	root   nodeID
	count  int // nodes, the root included
	index  pathIndex
	blobs  blobArena

	acls       aclCache
	ephemerals map[int64]map[string]struct{}
	containers map[string]struct{}
	ttls       map[string]struct{}
	sessions   map[int64]int32 // live sessions and their timeouts (ms)

	Watches *Watches

	lastZxid  int64
	dataBytes int64
	digest    uint64       // see Digest
	digestBuf []byte       // nodeDigest's scratch
	check     *DigestCheck // the restored snapshot's, until Apply reaches it
	// mismatches counts the checks that failed, for mntr's
	// zk_digest_mismatches_count.
	mismatches uint64
}

// newEmpty returns a tree without any node, not even "/": New adds the
// initial nodes, RestoreSnapshot the snapshot's.
func newEmpty() *Tree {
	return &Tree{
		index:      newPathIndex(),
		acls:       newACLCache(),
		ephemerals: make(map[int64]map[string]struct{}),
		containers: make(map[string]struct{}),
		ttls:       make(map[string]struct{}),
		sessions:   make(map[int64]int32),
		Watches:    newWatches(),
		next:       1,
	}
}

// New returns a tree holding "/" and "/zookeeper" (with "/zookeeper/quota"
// and "/zookeeper/config"), as a fresh Apache ZooKeeper has: all Stat
// fields zero except /zookeeper/config's aversion, which is -1 (ZooKeeper
// sets its read-only ACL with version -1).
func New() *Tree {
	t := newEmpty()
	t.addNode(0, "/", []byte{}, t.acls.intern(OpenACLUnsafe), PersistedStat{})
	t.addSystemNode("/zookeeper", OpenACLUnsafe)
	t.addSystemNode("/zookeeper/quota", OpenACLUnsafe)
	t.addSystemNode("/zookeeper/config", ReadACLUnsafe)
	config := t.node(t.lookup("/zookeeper/config"))
	t.unhash(config)
	config.aversion = -1
	t.rehash(config)
	return t
}

// nodeSize is ZooKeeper's DataTree.getNodeSize: the path's length in
// UTF-16 code units (Java's String.length) plus the data's length.
func nodeSize(path string, data []byte) int64 {
	n := int64(len(data))
	for i := 0; i < len(path); {
		c := path[i]
		switch {
		case c < 0x80:
			i++
		case c < 0xe0:
			i += 2
		case c < 0xf0:
			i += 3
		default:
			i += 4
			n++ // a surrogate pair in Java
		}
		n++
	}
	return n
}

// addSystemNode adds one of the nodes a fresh ZooKeeper has, with empty,
// not null, data.
func (t *Tree) addSystemNode(path string, acl []jute.ACL) {
	parentPath, _ := SplitPath(path)
	t.addNode(t.lookup(parentPath), path, []byte{}, t.acls.intern(acl), PersistedStat{})
}

// LastZxid is the zxid of the last transaction applied.
func (t *Tree) LastZxid() int64 { return t.lastZxid }

// NodeCount is the number of znodes, "/" included. Apache ZooKeeper's
// zk_znode_count (mntr) and "Node count" (srvr, stat) are one more: its
// node map holds the root twice, as "/" and as "". A fresh tree has 4.
func (t *Tree) NodeCount() int { return t.count }

// DataBytes is mntr's approximate_data_size, computed as ZooKeeper does:
// for every node the length of its path (in UTF-16 code units) plus the
// length of its data; a fresh tree has 44, as a fresh ZooKeeper.
func (t *Tree) DataBytes() int64 { return t.dataBytes }

// Node is a read handle to a znode. It is valid until the next Apply.
type Node struct {
	t  *Tree
	id nodeID
}

// Get looks up a node by path.
func (t *Tree) Get(path string) (Node, bool) {
	id := t.lookup(path)
	return Node{t, id}, id != 0
}

// Stat returns the node's full Stat, as a client sees it.
//
// The tree stores cversion as ZooKeeper's StatPersisted does: the number of
// child creations (it names sequential nodes and is what a create txn
// carries). Clients see ZooKeeper's "v3 semantics", the number of child
// changes, creations plus deletions: 2*cversion - numChildren (DataNode.
// copyStat), so a fresh "/" with its one child /zookeeper shows -1, and a
// delete raises the visible cversion by one although the stored one stays.
func (n Node) Stat() jute.Stat {
	x := n.t.node(n.id)
	numChildren := x.numChildren
	return jute.Stat{
		Czxid: x.czxid, Mzxid: x.mzxid, Pzxid: x.pzxid,
		Ctime: x.ctime, Mtime: x.mtime,
		Version: x.version, Cversion: x.cversion*2 - numChildren, Aversion: x.aversion,
		EphemeralOwner: clientOwner(x.owner),
		DataLength:     max(x.dataLen, 0),
		NumChildren:    numChildren,
	}
}

// clientOwner hides container and TTL encodings from clients: ZooKeeper
// reports ephemeralOwner 0 for them.
func clientOwner(owner int64) int64 {
	if jute.IsEphemeralOwner(owner) {
		return owner
	}
	return 0
}

// Data returns the node's data; the caller must not modify or keep it. It
// is nil for a node created or set with null data, which ZooKeeper keeps
// apart from empty data (getData answers length -1 for it).
func (n Node) Data() []byte { return n.t.data(n.t.node(n.id)) }

// ACL returns the node's ACL; the caller must not modify it.
func (n Node) ACL() []jute.ACL { return n.t.acls.get(n.t.node(n.id).acl) }

// NumChildren returns the number of children.
func (n Node) NumChildren() int { return int(n.t.node(n.id).numChildren) }

// Owner returns the ephemeralOwner field as stored: a session, or the
// container or TTL encoding that Stat hides from clients.
func (n Node) Owner() int64 { return n.t.node(n.id).owner }

// Children appends the sorted child names to dst.
func (n Node) Children(dst []string) []string {
	start := len(dst)
	for c := n.t.node(n.id).child; c != 0; c = n.t.node(c).next {
		dst = append(dst, n.t.name(n.t.node(c)))
	}
	sort.Strings(dst[start:])
	return dst
}

// CountDescendants returns the number of nodes below n
// (getAllChildrenNumber).
func (n Node) CountDescendants() int {
	total := 0
	var walk func(id nodeID)
	walk = func(id nodeID) {
		for c := n.t.node(id).child; c != 0; c = n.t.node(c).next {
			total++
			walk(c)
		}
	}
	walk(n.id)
	return total
}

// Ephemerals returns the sorted paths of the ephemerals owned by session.
func (t *Tree) Ephemerals(session int64) []string {
	out := make([]string, 0, len(t.ephemerals[session]))
	for p := range t.ephemerals[session] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// EphemeralCount returns the number of ephemeral nodes (mntr).
func (t *Tree) EphemeralCount() int {
	n := 0
	for _, s := range t.ephemerals {
		n += len(s)
	}
	return n
}

// EphemeralsBySession returns every session's sorted ephemerals (dump).
func (t *Tree) EphemeralsBySession() map[int64][]string {
	out := make(map[int64][]string, len(t.ephemerals))
	for s := range t.ephemerals {
		out[s] = t.Ephemerals(s)
	}
	return out
}

// Sessions returns the live sessions and their timeouts.
func (t *Tree) Sessions() map[int64]int32 {
	out := make(map[int64]int32, len(t.sessions))
	for s, to := range t.sessions {
		out[s] = to
	}
	return out
}

// HasSession reports whether session is live in the tree.
func (t *Tree) HasSession(session int64) bool {
	_, ok := t.sessions[session]
	return ok
}

// Containers returns the sorted paths of container nodes.
func (t *Tree) Containers() []string { return sortedKeys(t.containers) }

// TTLNodes returns the sorted paths of TTL nodes.
func (t *Tree) TTLNodes() []string { return sortedKeys(t.ttls) }

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Result is what applying a transaction produced, for the reply.
type Result struct {
	Op    jute.Op  // the transaction type; OpError for a failed op
	Err   jute.Err // ErrOK on success
	Path  string   // the node's path (final sequential name for creates)
	Stat  jute.Stat
	Multi []Result
}

// Apply applies one committed transaction and appends the watch events it
// fires to ev, in the order ZooKeeper fires them. Apply is deterministic:
// the same tree and txn give the same tree and events. Applying a txn whose
// effect the tree already holds (replay over a fuzzy snapshot) leaves the
// tree unchanged but for the parent's pzxid/cversion taking their maximum,
// as ZooKeeper's DataTree does: a create that finds its node raises the
// parent's cversion (and then pzxid) to the txn's, and a delete that finds
// no node still raises the parent's pzxid. Apply does not modify x.
func (t *Tree) Apply(x *Txn, ev []Event) (Result, []Event) {
	if x.Zxid > t.lastZxid {
		t.lastZxid = x.Zxid
	}
	res, ev := t.apply(x, ev)
	if t.check != nil {
		t.checkDigest()
	}
	return res, ev
}

func (t *Tree) apply(x *Txn, ev []Event) (Result, []Event) {
	res := Result{Op: x.Type, Path: x.Path}
	switch {
	case IsCreate(x.Type):
		res.Err, res.Stat, ev = t.applyCreate(x, ev)
	case x.Type == jute.OpDelete || x.Type == jute.OpDeleteContainer:
		res.Err, ev = t.applyDelete(x.Path, x.Zxid, ev)
	case x.Type == jute.OpSetData:
		res.Err, res.Stat, ev = t.applySetData(x, ev)
	case x.Type == jute.OpSetACL:
		res.Err, res.Stat = t.applySetACL(x)
	case x.Type == jute.OpCheck:
		if n, ok := t.Get(x.Path); ok {
			res.Stat = n.Stat()
		} else {
			res.Err = jute.ErrNoNode
		}
	case x.Type == jute.OpError:
		res.Err = x.Err
	case x.Type == jute.OpCreateSession:
		t.setSession(x.Session, x.Timeout)
	case x.Type == jute.OpCloseSession:
		ev = t.applyCloseSession(x, ev)
	case x.Type == jute.OpMulti:
		res, ev = t.applyMulti(x, ev)
	}
	return res, ev
}

func (t *Tree) applyCreate(x *Txn, ev []Event) (jute.Err, jute.Stat, []Event) {
	// Prepare never makes a create with a bad path; a damaged log must not
	// make the path index disagree with the child lists.
	if x.Path == "/" || !ValidatePath(x.Path, false) {
		return jute.ErrBadArguments, jute.Stat{}, ev
	}
	parentPath, _ := SplitPath(x.Path)
	pid := t.lookup(parentPath)
	if pid == 0 {
		return jute.ErrNoNode, jute.Stat{}, ev
	}
	if t.lookup(x.Path) != 0 {
		// Replay: ZooKeeper's processTxn still moves the parent's
		// cversion and pzxid forward (setCversionPzxid).
		t.raiseCversion(t.node(pid), x.Version, x.Zxid)
		return jute.ErrNodeExists, jute.Stat{}, ev
	}
	id := t.addNode(pid, x.Path, x.Data, t.acls.intern(x.ACL), PersistedStat{
		Czxid: x.Zxid, Mzxid: x.Zxid, Pzxid: x.Zxid,
		Ctime: x.Time, Mtime: x.Time, Owner: x.Owner,
	})
	t.raiseCversion(t.node(pid), x.Version, x.Zxid)
	n := t.node(id)
	stat := Node{t, id}.Stat()
	acl, parentACL := t.acls.get(n.acl), t.acls.get(t.node(pid).acl)
	t.Watches.mu.Lock()
	at := len(ev)
	ev, _ = t.Watches.fire(false, x.Path, jute.EventNodeCreated, nil, ev)
	ev = withACL(ev, at, acl)
	at = len(ev)
	ev, _ = t.Watches.fire(true, parentPath, jute.EventNodeChildrenChanged, nil, ev)
	ev = withACL(ev, at, parentACL)
	t.Watches.mu.Unlock()
	return jute.ErrOK, stat, ev
}

func (t *Tree) applyDelete(path string, zxid int64, ev []Event) (jute.Err, []Event) {
	parentPath, name := SplitPath(path)
	if name == "" {
		return jute.ErrNoNode, ev
	}
	id := t.lookup(path)
	if id == 0 {
		// Replay over a fuzzy snapshot: the child is gone already, but
		// the parent's pzxid must still advance, as in ZooKeeper.
		if pid := t.lookup(parentPath); pid != 0 {
			t.raisePzxid(t.node(pid), zxid)
		}
		return jute.ErrNoNode, ev
	}
	pid := t.node(id).parent
	if t.node(id).child != 0 {
		// Only in replay: the node is a later incarnation whose children
		// were created after this txn, and later txns create them again.
		// ZooKeeper's deleteNode drops the node whatever its children
		// (leaving them orphaned in its map until recreated); we drop the
		// subtree, children first, so the indexes stay whole.
		for _, name := range (Node{t, id}).Children(nil) {
			_, ev = t.applyDelete(JoinPath(path, name), zxid, ev)
		}
	}
	p := t.node(pid)
	t.raisePzxid(p, zxid)
	// The interned list stays intact after release (a new interning gets
	// a new slice), so the events may keep it.
	acl, parentACL := t.acls.get(t.node(id).acl), t.acls.get(p.acl)
	t.removeNode(id, path)
	t.Watches.mu.Lock()
	at := len(ev)
	ev, processed := t.Watches.fire(false, path, jute.EventNodeDeleted, nil, ev)
	ev, _ = t.Watches.fire(true, path, jute.EventNodeDeleted, processed, ev)
	ev = withACL(ev, at, acl)
	at = len(ev)
	ev, _ = t.Watches.fire(true, parentPath, jute.EventNodeChildrenChanged, nil, ev)
	ev = withACL(ev, at, parentACL)
	t.Watches.mu.Unlock()
	return jute.ErrOK, ev
}

func (t *Tree) applySetData(x *Txn, ev []Event) (jute.Err, jute.Stat, []Event) {
	id := t.lookup(x.Path)
	if id == 0 {
		return jute.ErrNoNode, jute.Stat{}, ev
	}
	n := t.node(id)
	t.unhash(n)
	t.dataBytes += int64(len(x.Data)) - int64(max(n.dataLen, 0))
	t.setData(n, x.Data)
	n.version = x.Version
	n.mzxid = x.Zxid
	n.mtime = x.Time
	t.rehash(n)
	stat := Node{t, id}.Stat()
	t.Watches.mu.Lock()
	at := len(ev)
	ev, _ = t.Watches.fire(false, x.Path, jute.EventNodeDataChanged, nil, ev)
	ev = withACL(ev, at, t.acls.get(n.acl))
	t.Watches.mu.Unlock()
	return jute.ErrOK, stat, ev
}

func (t *Tree) applySetACL(x *Txn) (jute.Err, jute.Stat) {
	id := t.lookup(x.Path)
	if id == 0 {
		return jute.ErrNoNode, jute.Stat{}
	}
	n := t.node(id)
	t.unhash(n)
	old := n.acl
	n.acl = t.acls.intern(x.ACL)
	t.acls.release(old)
	n.aversion = x.Version
	t.rehash(n)
	return jute.ErrOK, Node{t, id}.Stat()
}

func (t *Tree) applyCloseSession(x *Txn, ev []Event) []Event {
	for _, p := range x.Paths {
		_, ev = t.applyDelete(p, x.Zxid, ev)
	}
	// Whatever the index still holds for the session (there should be
	// nothing) goes too, so no ephemeral outlives its session.
	for _, p := range t.Ephemerals(x.Session) {
		_, ev = t.applyDelete(p, x.Zxid, ev)
	}
	t.dropSession(x.Session)
	return ev
}

// applyMulti applies all sub-transactions, or none when the multi failed
// in prepare (it then holds only error txns and reports their codes). Each
// sub-transaction runs with the multi's zxid, time, session and cxid.
func (t *Tree) applyMulti(x *Txn, ev []Event) (Result, []Event) {
	res := Result{Op: jute.OpMulti, Multi: make([]Result, len(x.Ops))}
	for i := range x.Ops {
		sub := x.Ops[i] // a copy: Apply leaves the caller's txn alone
		sub.Zxid, sub.Time, sub.Session, sub.Cxid = x.Zxid, x.Time, x.Session, x.Cxid
		if multiSubOp(sub.Type) {
			res.Multi[i], ev = t.apply(&sub, ev)
		} else {
			// Prepare never puts these in a multi (nor does ZooKeeper's
			// DataTree accept them there); refuse rather than recurse.
			res.Multi[i] = Result{Op: jute.OpError, Err: jute.ErrBadArguments}
		}
		if res.Multi[i].Err != jute.ErrOK && res.Err == jute.ErrOK {
			res.Err = res.Multi[i].Err
		}
	}
	return res, ev
}

// multiSubOp reports whether a multi may hold a sub-transaction of type op.
func multiSubOp(op jute.Op) bool {
	switch op {
	case jute.OpDelete, jute.OpDeleteContainer, jute.OpSetData, jute.OpCheck, jute.OpError:
		return true
	}
	return IsCreate(op)
}

// raiseCversion moves a parent's cversion (and with it pzxid) forward to a
// create's, as ZooKeeper's setCversionPzxid does.
func (t *Tree) raiseCversion(p *node, cversion int32, zxid int64) {
	if cversion > p.cversion {
		t.unhash(p)
		p.cversion, p.pzxid = cversion, zxid
		t.rehash(p)
	}
}

// raisePzxid moves a parent's pzxid forward to a delete's.
func (t *Tree) raisePzxid(p *node, zxid int64) {
	if zxid > p.pzxid {
		t.unhash(p)
		p.pzxid = zxid
		t.rehash(p)
	}
}

// withACL sets acl on the events appended since at.
func withACL(ev []Event, at int, acl []jute.ACL) []Event {
	for i := at; i < len(ev); i++ {
		ev[i].ACL = acl
	}
	return ev
}
