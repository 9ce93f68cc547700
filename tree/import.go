package tree

import (
	"errors"
	"fmt"

	"zkd/netio/jute"
)

// Importing another server's persisted state (engine/zkimport reads an
// Apache ZooKeeper data directory): a Builder inserts nodes with their
// Stat exactly as that server stored it, which no transaction can do (a
// create sets czxid = mzxid = pzxid and versions 0), and sessions with
// their timeouts. The result is an ordinary tree: the caller then applies
// the other server's log after the snapshot with Apply, as recovery does
// over one of our own fuzzy snapshots.

// PersistedStat is a node's Stat as stored: ZooKeeper's StatPersisted
// (cversion counts child creations, see Node.Stat) with the raw
// ephemeralOwner (a session, or the container or TTL encoding).
type PersistedStat struct {
	Czxid, Mzxid, Pzxid int64
	Ctime, Mtime        int64
	Owner               int64
	Version             int32
	Cversion            int32
	Aversion            int32
}

// Persisted returns the node's Stat as stored.
func (n Node) Persisted() PersistedStat {
	return n.t.node(n.id).persisted()
}

// ErrBadImport is wrapped by every error a Builder returns for input that
// would not make a whole tree.
var ErrBadImport = errors.New("tree: bad import")

// Builder builds a tree from another server's snapshot, node by node.
//
// Contract:
//  1. AddNode "/" first, then every other node after its parent (a
//     depth-first or breadth-first dump both qualify); AddSession at any
//     point.
//  2. Tree(zxid) ends the build and returns the tree with LastZxid = zxid;
//     the Builder refuses every later call.
//
// The tree keeps every invariant Apply keeps: the path index, parent
// links and child lists agree, ACL references are counted, the ephemeral,
// container and TTL indexes follow the owners, DataBytes is the sum of the
// node sizes. Cost: one path lookup and one insert per node, as restoring
// one of our own snapshots.
type Builder struct {
	t    *Tree
	done bool
}

// NewBuilder starts a tree without any node, not even "/".
func NewBuilder() *Builder { return &Builder{t: newEmpty()} }

func badImport(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadImport, fmt.Sprintf(format, args...))
}

// AddNode adds the node at path with its data (nil is null data, which
// clients see apart from empty data), ACL and stored Stat. Its parent must
// be there already and the path must be free and valid.
func (b *Builder) AddNode(path string, data []byte, acl []jute.ACL, st PersistedStat) error {
	if b.done {
		return badImport("AddNode after Tree")
	}
	t := b.t
	var pid nodeID
	root := t.root == 0
	switch {
	case root:
		if path != "/" {
			return badImport("first node is %q, not \"/\"", path)
		}
		if st.Owner != 0 {
			// ZooKeeper never makes "/" ephemeral, a container or a TTL
			// node (and would not index it as one).
			return badImport("\"/\" has ephemeralOwner %#x", st.Owner)
		}
	case path == "/":
		return badImport("node \"/\" twice")
	case !ValidatePath(path, false):
		return badImport("invalid path %q", path)
	default:
		parentPath, _ := SplitPath(path)
		if pid = t.lookup(parentPath); pid == 0 {
			return badImport("node %q before its parent", path)
		}
		if t.lookup(path) != 0 {
			return badImport("node %q twice", path)
		}
	}
	t.addNode(pid, path, data, t.acls.intern(acl), st)
	return nil
}

// AddSession adds a live session with its negotiated timeout.
func (b *Builder) AddSession(id int64, timeoutMs int32) error {
	if b.done {
		return badImport("AddSession after Tree")
	}
	if _, dup := b.t.sessions[id]; dup {
		return badImport("session %#x twice", id)
	}
	b.t.setSession(id, timeoutMs)
	return nil
}

// Tree ends the build and returns the tree, whose LastZxid is lastZxid:
// the zxid the source snapshot was started at, so that the caller applies
// the source's transactions after it.
func (b *Builder) Tree(lastZxid int64) (*Tree, error) {
	if b.done {
		return nil, badImport("Tree called twice")
	}
	if b.t.root == 0 {
		return nil, badImport("no \"/\" node")
	}
	b.done = true
	b.t.lastZxid = lastZxid
	return b.t, nil
}
