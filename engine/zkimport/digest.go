package zkimport

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"unicode/utf8"

	"zkd/tree"
)

// DigestVersion is the version of ZooKeeper's tree digest that Digest
// computes (DigestCalculator's, 3.6 to 3.9).
const DigestVersion = 2

// zkSubtree is where ZooKeeper's digest stops looking: nothing below
// /zookeeper (quota and config nodes, updated locally) is hashed; the
// /zookeeper node itself is.
const zkSubtree = "/zookeeper/"

// Digest computes Apache ZooKeeper's tree digest (version 2) over t, the
// value its TxnDigest and snapshot digest records hold, so an import can
// be checked against the server it came from. Per node, CRC-32 (IEEE) of
// the path ("" for the root) in the JVM's default charset, then the data
// (nothing for null), then the 60 bytes
//
//	long czxid, mzxid, pzxid, ctime, mtime; int version, cversion, aversion; long ephemeralOwner
//
// with the Stat as stored (StatPersisted); the tree's digest is the sum of
// the nodes' CRCs modulo 2^64, leaving out every node below /zookeeper/.
// The JVM encodes paths in its default charset: UTF-8 on most systems, but
// US-ASCII (each non-ASCII character becomes '?') under a C or POSIX
// locale before Java 18; ascii picks the latter.
//
// Cost: a walk of the whole tree, one CRC over each path and each node's
// data.
func Digest(t *tree.Tree, ascii bool) int64 {
	var sum uint64
	var stat [60]byte
	h := crc32.NewIEEE()
	stack := []string{"/"}
	var names []string
	for len(stack) > 0 {
		path := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, ok := t.Get(path)
		if !ok {
			continue
		}
		names = n.Children(names[:0])
		for _, name := range names {
			stack = append(stack, tree.JoinPath(path, name))
		}
		if strings.HasPrefix(path, zkSubtree) {
			continue
		}
		key := path
		if path == "/" {
			key = ""
		}
		h.Reset()
		if ascii {
			h.Write(asciiBytes(key))
		} else {
			h.Write([]byte(key))
		}
		h.Write(n.Data())
		st := n.Persisted()
		b := stat[:0]
		for _, v := range [...]int64{st.Czxid, st.Mzxid, st.Pzxid, st.Ctime, st.Mtime} {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
		for _, v := range [...]int32{st.Version, st.Cversion, st.Aversion} {
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
		b = binary.BigEndian.AppendUint64(b, uint64(st.Owner))
		h.Write(b)
		sum += uint64(h.Sum32())
	}
	return int64(sum)
}

// asciiBytes encodes s as Java's String.getBytes does in US-ASCII: every
// character outside ASCII becomes '?'.
func asciiBytes(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return b
}

// hasNonASCIIPath reports whether any node's path holds a non-ASCII byte
// (only then can the JVM's charset change the digest).
func hasNonASCIIPath(t *tree.Tree) bool {
	stack := []string{"/"}
	var names []string
	for len(stack) > 0 {
		path := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for i := 0; i < len(path); i++ {
			if path[i] >= utf8.RuneSelf {
				return true
			}
		}
		n, ok := t.Get(path)
		if !ok {
			continue
		}
		names = n.Children(names[:0])
		for _, name := range names {
			stack = append(stack, tree.JoinPath(path, name))
		}
	}
	return false
}
