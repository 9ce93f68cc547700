package tree

import (
	"encoding/binary"
	"hash/fnv"
)

// DigestVersion names the layout Digest hashes. Digests are compared
// across replicas and stored beside snapshots, so any change to what
// Digest covers or how it encodes it must bump this.
const DigestVersion = 1

// Digest returns a 64-bit digest of the replicated state: every znode (its
// path, its data, every Stat field as stored, its raw ephemeralOwner and
// its ACL) and the session table (ids and timeouts). Two trees with the
// same digest hold, with overwhelming likelihood, the same state; the
// engine compares it after recovery (newest snapshot plus replay) and the
// replication simulation compares it across replicas at the same zxid.
//
// It is deterministic across processes and machines (FNV-1a over a fixed
// big-endian encoding, no random seed) and independent of insertion
// order, map iteration order and slab layout: each node and session is
// hashed alone, mixed through a 64-bit finaliser, and the results are
// summed modulo 2^64. What it leaves out, on purpose: LastZxid (a fuzzy
// snapshot may be behind it) and the watch tables (per server, not
// replicated). Null data and empty data hash differently, as clients see
// them differently.
//
// Cost: a full walk, O(nodes + bytes of data); about a nanosecond per
// byte of data hashed. Reads only; the caller holds the tree as for any
// read (Apply excluded).
func (t *Tree) Digest() uint64 {
	h := fnv.New64a()
	var buf []byte
	var sum uint64
	t.walk(func(path string, id nodeID) {
		n := t.node(id)
		data := t.data(n)
		h.Reset()
		buf = append(buf[:0], 'n')
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(path)))
		buf = append(buf, path...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(n.dataLen))
		h.Write(buf)
		h.Write(data)
		buf = buf[:0]
		for _, v := range [...]int64{n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.owner} {
			buf = binary.BigEndian.AppendUint64(buf, uint64(v))
		}
		for _, v := range [...]int32{n.version, n.cversion, n.aversion} {
			buf = binary.BigEndian.AppendUint32(buf, uint32(v))
		}
		acl := t.acls.get(n.acl)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(acl)))
		for _, a := range acl {
			buf = binary.BigEndian.AppendUint32(buf, uint32(a.Perms))
			buf = appendLenString(buf, a.ID.Scheme)
			buf = appendLenString(buf, a.ID.ID)
		}
		h.Write(buf)
		sum += mix64(h.Sum64())
	})
	for s, timeout := range t.sessions {
		h.Reset()
		buf = append(buf[:0], 's')
		buf = binary.BigEndian.AppendUint64(buf, uint64(s))
		buf = binary.BigEndian.AppendUint32(buf, uint32(timeout))
		h.Write(buf)
		sum += mix64(h.Sum64())
	}
	return sum
}

func appendLenString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// mix64 is the splitmix64 finaliser: it spreads FNV's weak high bits so
// that the sum of many node hashes does not cancel out.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
