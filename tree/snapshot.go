package tree

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"zkd/netio/jute"
)

// A snapshot is fuzzy, as in Apache ZooKeeper: it is written in chunks
// while transactions keep being applied between the chunks, so it shows no
// single moment of the tree. It records the zxid S the tree had when the
// writer started; every node it holds was copied at some moment after S.
// Restoring it and then applying every transaction after S (in order, as
// the log has them) gives exactly the tree the live server had, because a
// transaction carries final values and Apply is idempotent over any state
// between S and the transaction (see Apply): a node copied before a txn
// took effect gets the txn's result on replay; a node copied after already
// holds it and the replay leaves it alone (pzxid and cversion only move
// forward, to the same maximum). The session table is copied once, at the
// first chunk, and converges the same way (createSession and closeSession
// carry final values too). engine/ wraps the body in a file with a header,
// compression and checksums; TestFuzzySnapshot checks the claim.
//
// Body format (zkd's own, built from jute primitives, all big-endian):
//
//	body    = frame*, in this order: header, session*, (acl | node)*, end
//	frame   = int length, then length bytes holding exactly one record
//	record  = int kind, then by kind:
//	  header  (1): int version (3), long startZxid, long nodes (the
//	               tree's count when the snapshot began: a hint to size
//	               the restored tree's index, not a check; version 1 had
//	               no hint)
//	  session (2): long id, int timeout (ms)
//	  acl     (3): int ref, vector<ACL>; refs are 1, 2, 3, … in order of
//	               first use, and an acl record comes before the first
//	               node that names it
//	  node    (4): ustring path, buffer data (-1 = null, 0 = empty),
//	               long czxid, mzxid, pzxid, ctime, mtime, owner (raw:
//	               session, container or TTL encoding),
//	               int version, cversion (stored, as StatPersisted; not the
//	               client's), aversion, int acl ref
//	  end     (5): long nodes, long sessions (how many of each came);
//	               since version 3 also long endZxid, int digestVersion,
//	               long digest: the tree's LastZxid and Digest when the
//	               last chunk was written. Restore keeps them as the
//	               tree's DigestCheck, which Apply settles when the
//	               replay reaches endZxid (no earlier moment of a fuzzy
//	               snapshot is ever rebuilt whole). A digest of another
//	               DigestVersion is not checked.
//
// Nodes come depth-first, children in byte order of their names, so a
// node always comes after its parent: "/" first, then for example
// "/a", "/a/x", "/b", "/zookeeper", "/zookeeper/config", ….
const (
	snapVersion = 3

	// snapNodesHintMax caps the header's node-count hint on restore: it
	// sizes the path index before any node is read, so a corrupt or
	// hostile hint must not allocate much. Growing the index costs little
	// (slots keep their hash), so a million-node restore took the same
	// time, about a second, with this cap as with 4M.
	snapNodesHintMax = 1 << 16

	snapKindHeader  = 1
	snapKindSession = 2
	snapKindACL     = 3
	snapKindNode    = 4
	snapKindEnd     = 5

	// snapRecordBytesMax bounds one record on restore. A node's data is
	// bounded by the request size the server accepts (jute.maxbuffer, 1 MB
	// by default); this is far above any setting that makes sense and
	// still keeps a corrupt length from meaning "read forever".
	snapRecordBytesMax = 1 << 30

	// snapReadStepBytes is how much a record buffer grows at a time while
	// it is read, so that a corrupt length costs memory only as far as
	// the bytes really there.
	snapReadStepBytes = 1 << 20
)

// ErrBadSnapshot is wrapped by every error RestoreSnapshot returns for a
// body it cannot decode or whose records do not make a whole tree.
var ErrBadSnapshot = errors.New("tree: malformed snapshot")

// SnapshotWriter encodes a fuzzy snapshot of a tree in chunks (see Next).
type SnapshotWriter struct {
	t         *Tree
	startZxid int64
	started   bool
	done      bool
	err       error // sticky: the writer's first error

	// stack is the depth-first traversal: one frame per node on the path
	// from "/" to the node visited last that has children, each with its
	// child names as they were when the node was visited. path holds the
	// path of the child visited last; a frame's pathLen is where its own
	// path ends in it ("/" has 0, so its children come out as "/name").
	stack []snapFrame
	path  []byte

	// aclByRef maps the tree's ACL references to ours. The tree may free a
	// reference and reuse it for another list while the lock is released,
	// so an entry holds the list it was made for: the cache allocates a
	// new slice for every interning, and holding the old one keeps its
	// address from being reused, so the same backing array means the same
	// list. aclByKey finds a list we have written under another reference.
	aclByRef map[uint32]snapACLRef
	aclByKey map[string]int32
	aclNext  int32

	nodes, sessions int64
	w               jute.Writer

	// The tree's LastZxid and Digest when the end record was written.
	endZxid   int64
	endDigest uint64
}

type snapFrame struct {
	pathLen int
	names   []string
	next    int
	// id is the node at the frame's path, looked up again (checked) in
	// each Next call: between calls the node may have been deleted (then
	// its captured children are skipped without a lookup each), or
	// replaced by a new incarnation under another id.
	id      nodeID
	checked bool
}

type snapACLRef struct {
	list []jute.ACL
	ref  int32
}

// NewSnapshotWriter starts a fuzzy snapshot of t. It reads LastZxid, so it
// runs under the tree's read lock, as Next does.
func (t *Tree) NewSnapshotWriter() *SnapshotWriter {
	return &SnapshotWriter{
		t:         t,
		startZxid: t.LastZxid(),
		aclByRef:  make(map[uint32]snapACLRef),
		aclByKey:  make(map[string]int32),
	}
}

// StartZxid is the zxid of the last transaction the tree held when the
// writer was made: recovery replays the log from the transaction after it.
func (s *SnapshotWriter) StartZxid() int64 { return s.startZxid }

// End returns the tree's LastZxid and Digest as the snapshot recorded
// them in its end record; both are 0 until Next has returned done.
func (s *SnapshotWriter) End() (zxid int64, digest uint64) { return s.endZxid, s.endDigest }

// WriteAll encodes the rest of the snapshot to w, chunkNodes nodes per
// call of withReadLock (which runs its argument under the tree's read
// lock). Each chunk goes to w outside the lock, so a slow w (a
// compressor, a disk) does not hold up the tree's writer.
func (s *SnapshotWriter) WriteAll(w io.Writer, withReadLock func(func()), chunkNodes int) error {
	var chunk bytes.Buffer
	for done := false; !done; {
		var err error
		withReadLock(func() { done, err = s.Next(&chunk, chunkNodes) })
		if err != nil {
			return err
		}
		if _, err := w.Write(chunk.Bytes()); err != nil {
			return err
		}
		chunk.Reset()
	}
	return nil
}

// Next encodes up to maxNodes more nodes (at least one) and writes them
// to w in one Write call; the first call also writes the header and the
// session table, the last one the end record. It returns done once the
// end record is written; later calls write nothing and return done.
//
// The caller holds the tree's read lock during each call and may release
// it between calls, so Apply may run in between: a child name captured
// when its parent was visited and gone by the time its turn comes is
// skipped, and a child created after its parent was visited is not
// visited (replay of the log after StartZxid creates it again). After an
// error from w the writer is dead and returns that error.
//
// Cost: besides the nodes themselves, visiting a node sorts its child
// names once, under the lock; a node with a million children makes that
// one call take as long as sorting a million strings.
func (s *SnapshotWriter) Next(w io.Writer, maxNodes int) (done bool, err error) {
	if s.err != nil {
		return false, s.err
	}
	if s.done {
		return true, nil
	}
	maxNodes = max(maxNodes, 1)
	s.w.Reset()
	written := 0
	for i := range s.stack {
		s.stack[i].checked = false
	}
	if !s.started {
		s.started = true
		at := s.begin(snapKindHeader)
		s.w.Int(snapVersion)
		s.w.Long(s.startZxid)
		s.w.Long(int64(s.t.count))
		s.w.EndFrame(at)
		ids := make([]int64, 0, len(s.t.sessions))
		for id := range s.t.sessions {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			at := s.begin(snapKindSession)
			s.w.Long(id)
			s.w.Int(s.t.sessions[id])
			s.w.EndFrame(at)
			s.sessions++
		}
		root := s.t.root
		if root == 0 {
			panic("tree: snapshot of a tree without \"/\"")
		}
		s.path = append(s.path[:0], '/')
		s.writeNode(root)
		written++
		s.push(0, root)
	}
	for written < maxNodes && len(s.stack) > 0 {
		f := &s.stack[len(s.stack)-1]
		if f.next == len(f.names) {
			*f = snapFrame{} // let the captured names go
			s.stack = s.stack[:len(s.stack)-1]
			continue
		}
		if !f.checked {
			f.checked = true
			if f.pathLen == 0 {
				f.id = s.t.root
			} else {
				// The lookup keeps nothing of the string it is given.
				f.id = s.t.lookup(unsafe.String(unsafe.SliceData(s.path), f.pathLen))
			}
			if f.id == 0 {
				// The node is gone, and every captured child with it.
				f.next = len(f.names)
				continue
			}
		}
		name := f.names[f.next]
		f.next++
		s.path = append(append(s.path[:f.pathLen], '/'), name...)
		id := s.t.lookup(unsafe.String(unsafe.SliceData(s.path), len(s.path)))
		if id == 0 {
			continue // deleted since its parent was visited
		}
		s.writeNode(id)
		written++
		if s.t.node(id).child != 0 {
			s.push(len(s.path), id)
		}
	}
	if len(s.stack) == 0 {
		s.endZxid, s.endDigest = s.t.lastZxid, s.t.digest
		at := s.begin(snapKindEnd)
		s.w.Long(s.nodes)
		s.w.Long(s.sessions)
		s.w.Long(s.endZxid)
		s.w.Int(DigestVersion)
		s.w.Long(int64(s.endDigest))
		s.w.EndFrame(at)
		s.done = true
	}
	if _, err := w.Write(s.w.B); err != nil {
		s.err = err
		s.done = false
		return false, err
	}
	return s.done, nil
}

// begin starts a frame holding a record of kind.
func (s *SnapshotWriter) begin(kind int32) int {
	at := s.w.BeginFrame()
	s.w.Int(kind)
	return at
}

// push captures the sorted child names of node id, whose path ends at
// pathLen in s.path.
func (s *SnapshotWriter) push(pathLen int, id nodeID) {
	s.stack = append(s.stack, snapFrame{pathLen: pathLen, names: Node{s.t, id}.Children(nil), id: id, checked: true})
}

// writeNode writes the node record of id, whose path is s.path, after
// the acl record for its ACL if this is the ACL's first use.
func (s *SnapshotWriter) writeNode(id nodeID) {
	n := s.t.node(id)
	ref := s.aclRef(n.acl)
	at := s.begin(snapKindNode)
	s.w.Int(int32(len(s.path)))
	s.w.B = append(s.w.B, s.path...)
	s.w.Buffer(s.t.data(n))
	s.w.Long(n.czxid)
	s.w.Long(n.mzxid)
	s.w.Long(n.pzxid)
	s.w.Long(n.ctime)
	s.w.Long(n.mtime)
	s.w.Long(n.owner)
	s.w.Int(n.version)
	s.w.Int(n.cversion)
	s.w.Int(n.aversion)
	s.w.Int(ref)
	s.w.EndFrame(at)
	s.nodes++
}

// aclRef returns the snapshot's reference for the tree's ACL reference
// treeRef, writing an acl record when the list is new to the snapshot.
func (s *SnapshotWriter) aclRef(treeRef uint32) int32 {
	list := s.t.acls.get(treeRef)
	if e, ok := s.aclByRef[treeRef]; ok && sameACLList(e.list, list) {
		return e.ref
	}
	key := aclKey(list)
	ref, ok := s.aclByKey[key]
	if !ok {
		s.aclNext++
		ref = s.aclNext
		s.aclByKey[key] = ref
		at := s.begin(snapKindACL)
		s.w.Int(ref)
		s.w.ACLs(list)
		s.w.EndFrame(at)
	}
	s.aclByRef[treeRef] = snapACLRef{list: list, ref: ref}
	return ref
}

// sameACLList reports whether a and b are the same interned list (see
// SnapshotWriter.aclByRef); two empty lists are the same list.
func sameACLList(a, b []jute.ACL) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// RestoreSnapshot rebuilds a tree from a snapshot body that fills all of r:
// the nodes, the session table, the ephemeral, container and TTL indexes,
// the ACL cache and DataBytes, with no watches and LastZxid = startZxid.
// The caller then applies the log's transactions after startZxid. A body
// that does not decode or does not make a whole tree returns an error
// wrapping ErrBadSnapshot; an error reading r is returned wrapped as it is.
func RestoreSnapshot(r io.Reader) (_ *Tree, startZxid int64, _ error) {
	d := snapReader{br: bufio.NewReaderSize(r, 64<<10)}
	// The body's own structure makes the tree: no "/zookeeper" nodes are
	// added, they come from the body.
	t := newEmpty()
	var (
		acls             []snapACLDef // by snapshot ref - 1
		nodes, sessions  int64
		sawHeader, ended bool
		version          int32
		check            *DigestCheck
	)
	for !ended {
		kind, err := d.next()
		if err != nil {
			return nil, 0, err
		}
		r := &d.r
		if !sawHeader && kind != snapKindHeader {
			return nil, 0, d.bad("kind %d before the header", kind)
		}
		switch kind {
		case snapKindHeader:
			if sawHeader {
				return nil, 0, d.bad("second header")
			}
			sawHeader = true
			v := r.Int()
			if r.Err() == nil && (v < 1 || v > snapVersion) {
				return nil, 0, d.bad("version %d, want 1 to %d", v, snapVersion)
			}
			version = v
			startZxid = r.Long()
			if v >= 2 {
				// Sizing the index up front saves growing it a dozen
				// times over a big restore.
				if hint := r.Long(); hint > 0 {
					t.index.reserve(int(min(hint, snapNodesHintMax)))
				}
			}
		case snapKindSession:
			if nodes > 0 {
				return nil, 0, d.bad("session after the first node")
			}
			id, timeout := r.Long(), r.Int()
			if _, dup := t.sessions[id]; dup {
				return nil, 0, d.bad("session %#x twice", id)
			}
			t.setSession(id, timeout)
			sessions++
		case snapKindACL:
			ref, list := r.Int(), r.ACLs()
			if r.Err() == nil && int(ref) != len(acls)+1 {
				return nil, 0, d.bad("acl ref %d, want %d", ref, len(acls)+1)
			}
			acls = append(acls, snapACLDef{list: list})
		case snapKindNode:
			if err := d.node(t, acls, nodes == 0); err != nil {
				return nil, 0, err
			}
			nodes++
		case snapKindEnd:
			wantNodes, wantSessions := r.Long(), r.Long()
			if r.Err() == nil && (wantNodes != nodes || wantSessions != sessions) {
				return nil, 0, d.bad("end says %d nodes and %d sessions, body holds %d and %d",
					wantNodes, wantSessions, nodes, sessions)
			}
			if nodes == 0 {
				return nil, 0, d.bad("no nodes")
			}
			if version >= 3 {
				endZxid, digestVersion, digest := r.Long(), r.Int(), uint64(r.Long())
				if r.Err() == nil && endZxid < startZxid {
					return nil, 0, d.bad("ends at zxid %#x, before its start %#x", endZxid, startZxid)
				}
				if digestVersion == DigestVersion {
					check = &DigestCheck{Zxid: endZxid, Digest: digest}
				}
			}
			ended = true
		default:
			return nil, 0, d.bad("unknown kind %d", kind)
		}
		if r.Err() != nil {
			return nil, 0, d.bad("record kind %d: %v", kind, r.Err())
		}
		if r.Len() != 0 {
			return nil, 0, d.bad("record kind %d: %d trailing bytes", kind, r.Len())
		}
	}
	switch _, err := d.br.ReadByte(); {
	case err == nil:
		return nil, 0, d.bad("data after the end record")
	case err != io.EOF:
		return nil, 0, fmt.Errorf("tree: reading snapshot: %w", err)
	}
	t.lastZxid = startZxid
	if check != nil {
		// A snapshot that nothing changed under while it was written is
		// the tree at its start: it must match now.
		t.check = check
		t.checkDigest()
		if check.Checked && !check.OK() {
			return nil, 0, d.bad("%v", *check)
		}
	}
	return t, startZxid, nil
}

// snapACLDef is an acl record on restore: its list, and the tree's
// reference once a node has used it.
type snapACLDef struct {
	list []jute.ACL
	ref  uint32
}

// snapReader reads a snapshot body frame by frame.
type snapReader struct {
	br     *bufio.Reader
	buf    []byte
	r      jute.Reader
	frames int
	// ancestors is the path from "/" to the node read last: in a body
	// written depth-first a node's parent is on it, which spares a
	// lookup in the path index per node.
	ancestors []snapAncestor
}

type snapAncestor struct {
	path string
	id   nodeID
}

// parent finds the node at parentPath: on the ancestor stack (popping
// what the body has left behind), else, for a body not in depth-first
// order, in the path index.
func (d *snapReader) parent(t *Tree, parentPath string) (nodeID, bool) {
	for i := len(d.ancestors) - 1; i >= 0; i-- {
		if d.ancestors[i].path == parentPath {
			d.ancestors = d.ancestors[:i+1]
			return d.ancestors[i].id, true
		}
	}
	id := t.lookup(parentPath)
	if id != 0 {
		d.ancestors = append(d.ancestors[:0], snapAncestor{parentPath, id})
	}
	return id, id != 0
}

// next reads the next frame and returns its record kind; d.r holds the
// rest of the record.
func (d *snapReader) next() (int32, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(d.br, hdr[:]); err != nil {
		return 0, d.readErr(err)
	}
	n := int64(hdr[0])<<24 | int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3])
	if n < 4 || n > snapRecordBytesMax {
		return 0, d.bad("frame length %d", n)
	}
	d.buf = d.buf[:0]
	for int64(len(d.buf)) < n {
		step := int(min(n-int64(len(d.buf)), snapReadStepBytes))
		d.buf = slices.Grow(d.buf, step)
		got, err := io.ReadFull(d.br, d.buf[len(d.buf):len(d.buf)+step])
		d.buf = d.buf[:len(d.buf)+got]
		if err != nil {
			return 0, d.readErr(err)
		}
	}
	d.frames++
	d.r.Reset(d.buf)
	return d.r.Int(), nil
}

// readErr turns an end of input inside the body into ErrBadSnapshot and
// passes other read errors on.
func (d *snapReader) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return d.bad("truncated")
	}
	return fmt.Errorf("tree: reading snapshot: %w", err)
}

func (d *snapReader) bad(format string, args ...any) error {
	return fmt.Errorf("%w: frame %d: %s", ErrBadSnapshot, d.frames, fmt.Sprintf(format, args...))
}

// node decodes a node record and adds the node to t, keeping every index
// as Apply would. The first node must be "/", every other one must come
// after its parent.
func (d *snapReader) node(t *Tree, acls []snapACLDef, first bool) error {
	r := &d.r
	path := r.String()
	data := r.BufferView()
	var st PersistedStat
	st.Czxid, st.Mzxid, st.Pzxid = r.Long(), r.Long(), r.Long()
	st.Ctime, st.Mtime, st.Owner = r.Long(), r.Long(), r.Long()
	st.Version, st.Cversion, st.Aversion = r.Int(), r.Int(), r.Int()
	aclRef := r.Int()
	if r.Err() != nil {
		return d.bad("node: %v", r.Err())
	}
	if aclRef < 1 || int(aclRef) > len(acls) {
		return d.bad("node %q: acl ref %d of %d", path, aclRef, len(acls))
	}
	var pid nodeID
	switch {
	case first:
		if path != "/" {
			return d.bad("first node is %q, not \"/\"", path)
		}
	case path == "/" || !ValidatePath(path, false):
		return d.bad("node path %q", path)
	default:
		parentPath, _ := SplitPath(path)
		var ok bool
		if pid, ok = d.parent(t, parentPath); !ok {
			return d.bad("node %q before its parent", path)
		}
		if t.lookup(path) != 0 {
			return d.bad("node %q twice", path)
		}
	}
	def := &acls[aclRef-1]
	if def.ref == 0 {
		def.ref = t.acls.intern(def.list)
	} else {
		t.acls.refs[def.ref]++
	}
	id := t.addNode(pid, path, data, def.ref, st)
	d.ancestors = append(d.ancestors, snapAncestor{path, id})
	return nil
}
