package tree

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	"hash/crc32"
)

// DigestVersion names the layout Digest hashes. Digests are compared
// across replicas and stored in snapshots, so any change to what Digest
// covers or how it encodes it must bump this. Version 2: CRC-32C per
// node and session, kept up to date by every change instead of computed
// by a walk (version 1 was FNV-1a by a walk, never stored).
const DigestVersion = 2

// Digest returns a 64-bit digest of the replicated state: every znode (its
// path, its data, every Stat field as stored, its raw ephemeralOwner and
// its ACL) and the session table (ids and timeouts). Two trees with the
// same digest hold, with overwhelming likelihood, the same state.
// Snapshots record it at the zxid they end at, and recovery checks it
// when its replay reaches that zxid (DigestCheck); the replication
// simulation compares it across replicas at the same zxid.
//
// It is deterministic across processes and machines (CRC-32C over a
// fixed big-endian encoding) and independent of insertion order,
// map iteration order and slab layout: each node and session is hashed
// alone and the results are summed modulo 2^64, so a change subtracts the
// node's old hash and adds its new one. Reading it is O(1); each change
// costs hashing the nodes it touches (a setData of 1 KB hashes the node
// before and after, a create or delete also the parent). What it leaves
// out, on purpose: LastZxid (a fuzzy snapshot may be behind it) and the
// watch tables (per server, not replicated). Null data and empty data
// hash differently, as clients see them differently.
func (t *Tree) Digest() uint64 { return t.digest }

// computeDigest is Digest by a full walk, for tests of the bookkeeping.
func (t *Tree) computeDigest() uint64 {
	var sum uint64
	t.walk(func(_ string, id nodeID) { sum += t.nodeDigest(t.node(id)) })
	for s, timeout := range t.sessions {
		sum += sessionDigest(s, timeout)
	}
	return sum
}

// nodeDigest is a node's share of Digest: CRC-32C (hardware on amd64 and
// arm64; about 80 ns for a node of 1 KB, which a setData pays twice,
// BenchmarkNodeDigest1KB) over a fixed encoding, spread over 64 bits by
// mix64 so that sums of many do not cancel out.
func (t *Tree) nodeDigest(n *node) uint64 {
	path := t.pathView(n)
	b := append(t.digestBuf[:0], 'n')
	b = binary.BigEndian.AppendUint32(b, uint32(len(path)))
	b = append(b, path...)
	b = binary.BigEndian.AppendUint32(b, uint32(n.dataLen))
	crc := crc32.Update(0, castagnoli, b)
	crc = crc32.Update(crc, castagnoli, t.data(n))
	b = b[:0]
	for _, v := range [...]int64{n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.owner} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range [...]int32{n.version, n.cversion, n.aversion} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	acl := t.acls.get(n.acl)
	b = binary.BigEndian.AppendUint32(b, uint32(len(acl)))
	for _, a := range acl {
		b = binary.BigEndian.AppendUint32(b, uint32(a.Perms))
		b = appendLenString(b, a.ID.Scheme)
		b = appendLenString(b, a.ID.ID)
	}
	crc = crc32.Update(crc, castagnoli, b)
	t.digestBuf = b
	return mix64(uint64(crc) | uint64(len(path))<<32)
}

// sessionDigest is a session's share of Digest.
func sessionDigest(id int64, timeout int32) uint64 {
	var buf [13]byte
	buf[0] = 's'
	binary.BigEndian.PutUint64(buf[1:], uint64(id))
	binary.BigEndian.PutUint32(buf[9:], uint32(timeout))
	return mix64(uint64(crc32.Checksum(buf[:], castagnoli)) | 1<<63)
}

// castagnoli is CRC-32C.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendLenString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// mix64 is the splitmix64 finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// unhash takes node n's share out of Digest before a change to it;
// rehash puts it back after.
func (t *Tree) unhash(n *node) { t.digest -= t.nodeDigest(n) }
func (t *Tree) rehash(n *node) { t.digest += t.nodeDigest(n) }

// setSession adds or replaces a session in the table.
func (t *Tree) setSession(id int64, timeout int32) {
	if old, ok := t.sessions[id]; ok {
		t.digest -= sessionDigest(id, old)
	}
	t.sessions[id] = timeout
	t.digest += sessionDigest(id, timeout)
}

// dropSession removes a session from the table, if it is there.
func (t *Tree) dropSession(id int64) {
	if old, ok := t.sessions[id]; ok {
		t.digest -= sessionDigest(id, old)
		delete(t.sessions, id)
	}
}

// DigestCheck is what a snapshot says the tree's Digest was at Zxid, the
// zxid the tree had when the snapshot was finished. A fuzzy snapshot's
// nodes show no single moment, so the restored tree matches it only once
// the replay of the log has reached Zxid; Apply compares it then.
type DigestCheck struct {
	Zxid   int64
	Digest uint64
	// Got is the tree's digest when Apply reached Zxid; Checked says
	// whether it did. Skipped: the log went past Zxid without a txn at
	// Zxid itself, so nothing could be compared.
	Got              uint64
	Checked, Skipped bool
}

// Level is how loudly to report the check: a mismatch is an error (the
// tree is not the one the snapshot was taken of: with the files
// checksummed, that is a bug in apply or replay), a check that could not
// be made a warning. Like Apache ZooKeeper (digest_mismatches_count), a
// server reports a mismatch and goes on serving.
func (c DigestCheck) Level() slog.Level {
	switch {
	case c.OK():
		return slog.LevelInfo
	case c.Checked:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// OK reports whether the check was made and held.
func (c DigestCheck) OK() bool { return c.Checked && c.Got == c.Digest }

func (c DigestCheck) String() string {
	switch {
	case c.Skipped:
		return fmt.Sprintf("snapshot digest at zxid %#x not checked: no txn at that zxid", c.Zxid)
	case c.Pending():
		return fmt.Sprintf("snapshot digest at zxid %#x not checked: not reached", c.Zxid)
	case c.OK():
		return fmt.Sprintf("snapshot digest %016x at zxid %#x matches", c.Digest, c.Zxid)
	}
	return fmt.Sprintf("snapshot digest mismatch at zxid %#x: the tree has %016x, the snapshot recorded %016x", c.Zxid, c.Got, c.Digest)
}

// TakeDigestCheck returns the check of the snapshot the tree was restored
// from; ok is false when there is none (a snapshot from before version 3,
// or one taken already). A check Apply has settled (Checked or Skipped) is
// forgotten once taken; a pending one stays. A restore and replay calls it
// at the end; a replica after the batches it applies.
func (t *Tree) TakeDigestCheck() (c DigestCheck, ok bool) {
	if t.check == nil {
		return DigestCheck{}, false
	}
	c = *t.check
	if c.Pending() {
		return c, true
	}
	t.check = nil
	return c, true
}

// DigestMismatches counts the snapshot digest checks that failed on this
// tree (and, through AddDigestMismatches, on the trees it replaced).
func (t *Tree) DigestMismatches() uint64 { return t.mismatches }

// AddDigestMismatches carries a replaced tree's count over, so that the
// server's count (mntr's zk_digest_mismatches_count) is the process's.
func (t *Tree) AddDigestMismatches(n uint64) { t.mismatches += n }

// DropDigestCheck forgets the check, settled or not: a caller that has
// reported a pending one at the end of its replay stops it from being
// compared with whatever later comes at its zxid.
func (t *Tree) DropDigestCheck() { t.check = nil }

// Pending reports whether Apply has not reached the check's zxid yet.
func (c DigestCheck) Pending() bool { return !c.Checked && !c.Skipped }

// checkDigest runs after each txn Apply takes in.
func (t *Tree) checkDigest() {
	c := t.check
	switch {
	case c == nil || c.Checked || c.Skipped || t.lastZxid < c.Zxid:
	case t.lastZxid == c.Zxid:
		c.Got, c.Checked = t.digest, true
		if !c.OK() {
			t.mismatches++
		}
	default:
		c.Skipped = true
	}
}
