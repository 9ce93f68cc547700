package zkimport

import (
	"fmt"
	"io"
	"strconv"

	"zkd/netio/jute"
	"zkd/tree"
)

// Snapshot is what a ZooKeeper snapshot holds besides its nodes.
type Snapshot struct {
	DBID     int64     // the file header's database id (-1 in ZooKeeper 3.x)
	Sessions []Session // in file order
	ACLLists int       // entries of the ACL cache
	Nodes    int       // "/" included
	// Digest is the tree digest ZooKeeper 3.6+ appends (nil when absent):
	// the digest after transaction Digest.Zxid, the last one applied when
	// the snapshot ended (so at or after the snapshot's name zxid).
	Digest *ZxidDigest
	// LastZxid is the last processed zxid that ZooKeeper 3.9+ appends
	// (unless zookeeper.serializeLastProcessedZxid.enabled=false); 0 when
	// absent. ZooKeeper itself still replays from the name's zxid.
	LastZxid int64
}

// Session is a live session and its negotiated timeout.
type Session struct {
	ID        int64
	TimeoutMs int32
}

// ZxidDigest is a snapshot's digest record (DataTree.ZxidDigest).
type ZxidDigest struct {
	Zxid    int64
	Version int32 // of the digest function; 2 is the one Digest computes
	Digest  int64 // for Version < 2, parsed from the hex string it held
}

// SnapNode is one node of a snapshot.
type SnapNode struct {
	Path string // "/" for the root (ZooKeeper writes it as "")
	Data []byte // nil is null data
	ACL  []jute.ACL
	Stat tree.PersistedStat
}

// openACLUnsafe is what ACL cache reference -1 stands for: ZooKeeper
// stores no list for it (its root and system nodes use it).
var openACLUnsafe = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

const (
	// openACLRef is the ACL cache reference of OPEN_ACL_UNSAFE.
	openACLRef = -1
	// tailBytesMax bounds what may follow a snapshot's first checksum: a
	// digest record and a last-zxid record, each with its own checksum.
	tailBytesMax = 4096
	// preallocMax bounds what a count read from a file may preallocate.
	preallocMax = 1024
)

// DecodeSnapshot decodes the uncompressed stream of a ZooKeeper snapshot
// (version-2/snapshot.<zxid, hex>), calling node for every node in file
// order, parents before children; n is valid during the call only, but
// its Data and ACL may be kept (not modified). name is for errors. The
// stream is
//
//	FileHeader{int magic "ZKSN", int version 2, long dbid}
//	int count, count × {long session id, int timeout}
//	int count, count × {long ref, vector<ACL>}                 (the ACL cache)
//	node* = {ustring path, buffer data, long acl ref, StatPersisted}
//	ustring "/"                                                (end of nodes)
//	long Adler-32 of every byte before it, ustring "/"         (the seal)
//	[ZxidDigest{long zxid, int version, long digest}, seal]    (3.6+)
//	[long last processed zxid, seal]                           (3.9+)
//
// with the root as path "" and every other node after its parent; StatPersisted
// is {long czxid, mzxid, ctime, mtime; int version, cversion, aversion;
// long ephemeralOwner, pzxid}, and ACL reference -1 is world:anyone with
// every permission. Anything wrong is a *CorruptError; an error from node
// is returned wrapped.
func DecodeSnapshot(r io.Reader, name string, node func(n *SnapNode) error) (*Snapshot, error) {
	s := newStream(r)
	s.on = true
	snap := &Snapshot{}
	corrupt := func(at int64, format string, args ...any) error {
		return &CorruptError{File: name, Offset: at, Reason: fmt.Sprintf(format, args...)}
	}
	readErr := func(what string) error {
		if s.err == errShort {
			return corrupt(s.off, "cut short in %s", what)
		}
		// A bad length, or the decompressor's complaint (a gzip or
		// snappy checksum).
		return corrupt(s.off, "%s: %v", what, s.err)
	}

	magic, version := s.int32(), s.int32()
	snap.DBID = s.int64()
	switch {
	case s.err != nil:
		return nil, readErr("the file header")
	case magic != snapMagic:
		return nil, corrupt(0, "magic %#x, not a ZooKeeper snapshot (ZKSN)", uint32(magic))
	case version != fileVersion:
		return nil, corrupt(4, "snapshot format version %d, only %d is known", version, fileVersion)
	}

	at := s.off
	count := s.int32()
	if s.err == nil && count < 0 {
		return nil, corrupt(at, "session count %d", count)
	}
	snap.Sessions = make([]Session, 0, min(int(max(count, 0)), preallocMax))
	for i := int32(0); i < count && s.err == nil; i++ {
		id, timeout := s.int64(), s.int32()
		snap.Sessions = append(snap.Sessions, Session{ID: id, TimeoutMs: timeout})
	}
	if s.err != nil {
		return nil, readErr("the session table")
	}

	at = s.off
	count = s.int32()
	if s.err == nil && count < 0 {
		return nil, corrupt(at, "ACL cache size %d", count)
	}
	acls := make(map[int64][]jute.ACL, min(int(max(count, 0)), preallocMax))
	for i := int32(0); i < count && s.err == nil; i++ {
		at := s.off
		ref := s.int64()
		n := s.int32()
		if s.err != nil {
			break
		}
		if n < 0 {
			return nil, corrupt(at, "ACL cache entry %d: list length %d", ref, n)
		}
		if _, dup := acls[ref]; dup {
			return nil, corrupt(at, "ACL cache entry %d twice", ref)
		}
		list := make([]jute.ACL, 0, min(int(n), preallocMax))
		for j := int32(0); j < n && s.err == nil; j++ {
			perms := s.int32()
			scheme, _ := s.ustring()
			id, _ := s.ustring()
			list = append(list, jute.ACL{Perms: perms, ID: jute.ID{Scheme: scheme, ID: id}})
		}
		acls[ref] = list
	}
	if s.err != nil {
		return nil, readErr("the ACL cache")
	}
	snap.ACLLists = len(acls)

	var n SnapNode
	for {
		at := s.off
		path, null := s.ustring()
		if s.err != nil {
			return nil, readErr("the nodes")
		}
		if null {
			return nil, corrupt(at, "null node path")
		}
		if path == "/" {
			break // the end of the nodes
		}
		n.Data = s.buffer()
		ref := s.int64()
		st := &n.Stat
		st.Czxid, st.Mzxid, st.Ctime, st.Mtime = s.int64(), s.int64(), s.int64(), s.int64()
		st.Version, st.Cversion, st.Aversion = s.int32(), s.int32(), s.int32()
		st.Owner, st.Pzxid = s.int64(), s.int64()
		if s.err != nil {
			return nil, readErr(fmt.Sprintf("node %q", path))
		}
		if ref == openACLRef {
			n.ACL = openACLUnsafe
		} else {
			list, ok := acls[ref]
			if !ok {
				return nil, corrupt(at, "node %q names ACL %d, which the cache does not hold", path, ref)
			}
			n.ACL = list
		}
		n.Path = path
		if path == "" {
			n.Path = "/"
		}
		if err := node(&n); err != nil {
			return nil, fmt.Errorf("zkimport: %s: node %q at offset %d: %w", name, n.Path, at, err)
		}
		snap.Nodes++
	}

	at = s.off
	want := s.sum.sum()
	val := s.int64()
	slash, _ := s.ustring()
	switch {
	case s.err != nil:
		return nil, readErr("the checksum")
	case val != int64(want):
		return nil, corrupt(at, "checksum %#x, the file holds %#x", want, val)
	case slash != "/":
		return nil, corrupt(at+8, "checksum not followed by \"/\"")
	}

	at = s.off
	tail, err := io.ReadAll(io.LimitReader(s.br, tailBytesMax+1))
	if err != nil {
		return nil, corrupt(at, "after the checksum: %v", err)
	}
	if len(tail) > tailBytesMax {
		return nil, corrupt(at, "more than %d bytes after the checksum", tailBytesMax)
	}
	if !decodeTail(snap, s.sum, tail) {
		return nil, corrupt(at, "%d bytes after the checksum are no digest or last-zxid record with its checksum", len(tail))
	}
	return snap, nil
}

// decodeTail decodes what follows a snapshot's first seal: nothing, a
// digest, a last zxid, or both, each sealed with the running checksum
// (state is the checksum after the first seal). The checksums tell the
// readings apart.
func decodeTail(snap *Snapshot, state adler, tail []byte) bool {
	if len(tail) == 0 {
		return true
	}
	try := func(digest, last bool) bool {
		st := state
		r := jute.NewReader(tail)
		from := 0
		seal := func() bool {
			to := len(tail) - r.Len()
			st.update(tail[from:to])
			want := st.sum()
			val := r.Long()
			slash := r.String()
			to2 := len(tail) - r.Len()
			st.update(tail[to:to2])
			from = to2
			return r.Err() == nil && val == int64(want) && slash == "/"
		}
		var d ZxidDigest
		var lastZxid int64
		if digest {
			d.Zxid, d.Version = r.Long(), r.Int()
			if d.Version < 2 {
				// Version 1 wrote the digest as a hex string.
				v, err := strconv.ParseUint(r.String(), 16, 64)
				if err == nil {
					d.Digest = int64(v)
				}
			} else {
				d.Digest = r.Long()
			}
			if !seal() {
				return false
			}
		}
		if last {
			lastZxid = r.Long()
			if !seal() {
				return false
			}
		}
		if r.Len() != 0 {
			return false
		}
		if digest {
			snap.Digest = &d
		}
		snap.LastZxid = lastZxid
		return true
	}
	return try(true, false) || try(true, true) || try(false, true)
}
