package tree

import (
	"hash/maphash"
	"strings"
	"unsafe"

	"zkd/netio/jute"
)

// nodeID addresses a node in the slab; 0 is nil.
type nodeID uint32

const (
	chunkShift = 10
	chunkSize  = 1 << chunkShift

	// The path index is at most indexLoadNum/indexLoadDen full: linear
	// probing stays short up to about that.
	indexLoadNum  = 4
	indexLoadDen  = 5
	indexSlotsMin = 16
)

// node is one znode. Nodes live in fixed-size chunks, so that growing the
// tree never moves a node and a reference is a uint32. The children of a
// node form a doubly linked list through child/next/prev, and the path
// index finds a node by its path: no per-node map. The node's path and
// data share one blob in the tree's blobArena, the path first, so that a
// lookup confirms a match with one comparison in one place, the place the
// data is read from next. A node holds no pointer, so the slab is never
// scanned by the collector.
type node struct {
	blob    blobRef // never 0: a path is never empty
	pathLen uint32
	dataLen int32 // -1: null data, which clients see apart from empty data

	parent      nodeID
	child       nodeID // first child
	next, prev  nodeID // siblings
	numChildren int32
	acl         uint32 // aclCache reference
	version     int32
	cversion    int32
	aversion    int32

	czxid, mzxid, pzxid int64
	ctime, mtime        int64
	owner               int64
}

// emptyData is what Data returns for a node with empty, not null, data.
var emptyData = []byte{}

func (n *node) blobLen() int { return int(n.pathLen) + int(max(n.dataLen, 0)) }

// pathView returns the node's path as a view of its blob: valid until the
// node's blob is freed (delete or setData), so it is for comparisons and
// copies made under the lock.
func (t *Tree) pathView(n *node) string {
	b := t.blobs.get(n.blob, int(n.pathLen))
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// nameView returns the node's name ("" for the root), a view as pathView.
func (t *Tree) nameView(n *node) string {
	p := t.pathView(n)
	return p[strings.LastIndexByte(p, '/')+1:]
}

// name returns a copy of the node's name.
func (t *Tree) name(n *node) string { return strings.Clone(t.nameView(n)) }

// data returns the node's data (nil for null data), a view of its blob
// valid until the next Apply.
func (t *Tree) data(n *node) []byte {
	switch {
	case n.dataLen < 0:
		return nil
	case n.dataLen == 0:
		return emptyData
	}
	return t.blobs.get(n.blob, n.blobLen())[n.pathLen:]
}

// setBlob gives the node a blob holding path and data (nil is null data)
// and frees its old one. path may be a view of the old blob.
func (t *Tree) setBlob(n *node, path string, data []byte) {
	old, oldLen := n.blob, n.blobLen()
	var b []byte
	n.blob, b = t.blobs.alloc(len(path) + len(data))
	copy(b[copy(b, path):], data)
	n.pathLen = uint32(len(path))
	n.dataLen = int32(len(data))
	if data == nil {
		n.dataLen = -1
	}
	if old != 0 {
		t.blobs.release(old, oldLen)
	}
}

// setData replaces the node's data, keeping its path.
func (t *Tree) setData(n *node, data []byte) { t.setBlob(n, t.pathView(n), data) }

func (n *node) persisted() PersistedStat {
	return PersistedStat{
		Czxid: n.czxid, Mzxid: n.mzxid, Pzxid: n.pzxid,
		Ctime: n.ctime, Mtime: n.mtime, Owner: n.owner,
		Version: n.version, Cversion: n.cversion, Aversion: n.aversion,
	}
}

func (n *node) setPersisted(st PersistedStat) {
	n.czxid, n.mzxid, n.pzxid = st.Czxid, st.Mzxid, st.Pzxid
	n.ctime, n.mtime, n.owner = st.Ctime, st.Mtime, st.Owner
	n.version, n.cversion, n.aversion = st.Version, st.Cversion, st.Aversion
}

func (t *Tree) node(id nodeID) *node {
	return &t.chunks[id>>chunkShift][id&(chunkSize-1)]
}

func (t *Tree) alloc() nodeID {
	if n := len(t.free); n > 0 {
		id := t.free[n-1]
		t.free = t.free[:n-1]
		return id
	}
	id := t.next
	t.next++
	if int(id>>chunkShift) >= len(t.chunks) {
		t.chunks = append(t.chunks, make([]node, chunkSize))
	}
	return id
}

func (t *Tree) release(id nodeID) {
	*t.node(id) = node{}
	t.free = append(t.free, id)
}

// addNode makes a node at path under pid (0 for the root),
// and keeps every index: the parent's child list, the path index, the
// ephemeral, container and TTL sets, DataBytes. It takes ownership of one
// reference to acl. The caller has checked that the path is free.
func (t *Tree) addNode(pid nodeID, path string, data []byte, acl uint32, st PersistedStat) nodeID {
	id := t.alloc()
	n := t.node(id)
	*n = node{parent: pid, acl: acl}
	n.setPersisted(st)
	t.setBlob(n, path, data)
	if pid == 0 {
		t.root = id
	} else {
		p := t.node(pid)
		n.next = p.child
		if p.child != 0 {
			t.node(p.child).prev = id
		}
		p.child = id
		p.numChildren++
	}
	t.index.insert(id, path)
	t.count++
	t.dataBytes += nodeSize(path, data)
	switch {
	case st.Owner == jute.ContainerEphemeralOwner:
		t.containers[path] = struct{}{}
	case jute.IsTTLOwner(st.Owner):
		t.ttls[path] = struct{}{}
	case jute.IsEphemeralOwner(st.Owner):
		s := t.ephemerals[st.Owner]
		if s == nil {
			s = make(map[string]struct{})
			t.ephemerals[st.Owner] = s
		}
		s[path] = struct{}{}
	}
	t.rehash(n)
	return id
}

// removeNode drops the childless node id at path from every index and
// frees its slot and its ACL reference.
func (t *Tree) removeNode(id nodeID, path string) {
	n := t.node(id)
	if n.child != 0 {
		panic("tree: removing a node that has children")
	}
	t.unhash(n)
	t.index.remove(id, path)
	if n.parent != 0 {
		p := t.node(n.parent)
		if n.prev != 0 {
			t.node(n.prev).next = n.next
		} else {
			p.child = n.next
		}
		if n.next != 0 {
			t.node(n.next).prev = n.prev
		}
		p.numChildren--
	} else {
		t.root = 0
	}
	t.count--
	t.dataBytes -= nodeSize(path, t.data(n))
	switch {
	case n.owner == jute.ContainerEphemeralOwner:
		delete(t.containers, path)
	case jute.IsTTLOwner(n.owner):
		delete(t.ttls, path)
	case jute.IsEphemeralOwner(n.owner):
		if s := t.ephemerals[n.owner]; s != nil {
			delete(s, path)
			if len(s) == 0 {
				delete(t.ephemerals, n.owner)
			}
		}
	}
	t.acls.release(n.acl)
	t.blobs.release(n.blob, n.blobLen())
	t.release(id)
}

// lookup returns the node at path, 0 when there is none. Paths that are
// not canonical ("", "//a", "/a/") name no node.
func (t *Tree) lookup(path string) nodeID {
	return t.index.find(t, path)
}

// walk calls fn for every node, parents before children, with the node's
// path (a view fn must not keep). It must not change the tree.
func (t *Tree) walk(fn func(path string, id nodeID)) {
	if t.root == 0 {
		return
	}
	var visit func(id nodeID)
	visit = func(id nodeID) {
		n := t.node(id)
		fn(t.pathView(n), id)
		for c := n.child; c != 0; c = t.node(c).next {
			visit(c)
		}
	}
	visit(t.root)
}

// pathIndex maps a path to its node: an open-addressed table with linear
// probing over a hash of the whole path, each slot holding a node and 32
// bits of its path's hash (which give the home slot, by multiply-shift, so
// the table need not be a power of two, and a check before the node is
// read). A match is confirmed by walking the node's names up to the root
// (hasPath): paths never change in ZooKeeper, so no path string is kept.
// Deletion shifts the run after the hole back, so there are no tombstones.
// A slot costs 8 bytes; the table is at most four fifths full and grows by
// half, so a node costs 10 to 15 bytes of index.
type pathIndex struct {
	seed  maphash.Seed
	slots []indexSlot
	used  int
}

type indexSlot struct {
	id   nodeID
	hash uint32
}

func newPathIndex() pathIndex {
	return pathIndex{seed: maphash.MakeSeed(), slots: make([]indexSlot, indexSlotsMin)}
}

func (x *pathIndex) hash(path string) uint32 {
	return uint32(maphash.String(x.seed, path))
}

// home is the slot where a hash's probe starts.
func (x *pathIndex) home(h uint32) int {
	return int(uint64(h) * uint64(len(x.slots)) >> 32)
}

// find returns the node at path, 0 when there is none.
func (x *pathIndex) find(t *Tree, path string) nodeID {
	h := x.hash(path)
	for i := x.home(h); ; {
		s := x.slots[i]
		if s.id == 0 {
			return 0
		}
		if s.hash == h && t.pathView(t.node(s.id)) == path {
			return s.id
		}
		if i++; i == len(x.slots) {
			i = 0
		}
	}
}

// insert adds node id, which is at path, to the index.
func (x *pathIndex) insert(id nodeID, path string) {
	if (x.used+1)*indexLoadDen > len(x.slots)*indexLoadNum {
		x.resize(len(x.slots) + len(x.slots)/2)
	}
	x.place(indexSlot{id: id, hash: x.hash(path)})
	x.used++
}

func (x *pathIndex) place(s indexSlot) {
	i := x.home(s.hash)
	for x.slots[i].id != 0 {
		if i++; i == len(x.slots) {
			i = 0
		}
	}
	x.slots[i] = s
}

// reserve sizes the index for n entries at once (restore knows the count).
func (x *pathIndex) reserve(n int) {
	if size := n*indexLoadDen/indexLoadNum + indexSlotsMin; size > len(x.slots) {
		x.resize(size)
	}
}

func (x *pathIndex) resize(size int) {
	old := x.slots
	x.slots = make([]indexSlot, size)
	for _, s := range old {
		if s.id != 0 {
			x.place(s)
		}
	}
}

// remove drops node id, which is at path, from the index.
func (x *pathIndex) remove(id nodeID, path string) {
	size := len(x.slots)
	i := x.home(x.hash(path))
	for x.slots[i].id != id {
		if x.slots[i].id == 0 {
			panic("tree: removing a node the path index does not hold")
		}
		if i++; i == size {
			i = 0
		}
	}
	// Shift back every entry of the run after the hole that may move into
	// it: one whose home is not cyclically in (hole, j].
	for j := (i + 1) % size; x.slots[j].id != 0; j = (j + 1) % size {
		home := x.home(x.slots[j].hash)
		if (j-home+size)%size >= (j-i+size)%size {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = indexSlot{}
	x.used--
}
