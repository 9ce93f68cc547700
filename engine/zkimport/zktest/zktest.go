// Package zktest writes Apache ZooKeeper 3.x snapshot and transaction log
// files, byte for byte in the layout engine/zkimport reads, for tests that
// need such files without running ZooKeeper: hand-built cases, corrupt
// variants, fuzz seeds. It follows the layout zkimport's doc.go gives and
// shares no code with the reader, so a test of one against the other
// checks both against that description.
package zktest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/adler32"

	"github.com/klauspost/compress/snappy"

	"zkd/netio/jute"
	"zkd/tree"
)

// Operation codes and magics as ZooKeeper writes them.
const (
	SnapMagic = 0x5a4b534e // "ZKSN"
	LogMagic  = 0x5a4b4c47 // "ZKLG"
	Version   = 2
)

// Node is a snapshot node. Path "/" is written as ZooKeeper writes the
// root, "". ACLRef -1 is world:anyone with every permission.
type Node struct {
	Path   string
	Data   []byte
	ACLRef int64
	Stat   tree.PersistedStat
}

// ACLEntry is an entry of a snapshot's ACL cache.
type ACLEntry struct {
	Ref  int64
	List []jute.ACL
}

// Session is a snapshot's session.
type Session struct {
	ID      int64
	Timeout int32
}

// Digest is a snapshot's digest record (3.6+).
type Digest struct {
	Zxid    int64
	Version int32
	Value   int64
}

// Snapshot describes a snapshot file.
type Snapshot struct {
	DBID     int64
	Sessions []Session
	ACLs     []ACLEntry
	Nodes    []Node // written in this order
	Digest   *Digest
	LastZxid *int64 // 3.9+: the last processed zxid record
}

// Bytes encodes the snapshot's uncompressed stream: header, sessions,
// ACL cache, nodes, "/", seal, then the optional records, each sealed.
func (s *Snapshot) Bytes() []byte {
	var w jute.Writer
	w.Int(SnapMagic)
	w.Int(Version)
	w.Long(s.DBID)
	w.Int(int32(len(s.Sessions)))
	for _, x := range s.Sessions {
		w.Long(x.ID)
		w.Int(x.Timeout)
	}
	w.Int(int32(len(s.ACLs)))
	for _, a := range s.ACLs {
		w.Long(a.Ref)
		w.ACLs(a.List)
	}
	for _, n := range s.Nodes {
		path := n.Path
		if path == "/" {
			path = ""
		}
		w.String(path)
		w.Buffer(n.Data)
		w.Long(n.ACLRef)
		st := n.Stat
		w.Long(st.Czxid)
		w.Long(st.Mzxid)
		w.Long(st.Ctime)
		w.Long(st.Mtime)
		w.Int(st.Version)
		w.Int(st.Cversion)
		w.Int(st.Aversion)
		w.Long(st.Owner)
		w.Long(st.Pzxid)
	}
	w.String("/")
	Seal(&w)
	if d := s.Digest; d != nil {
		w.Long(d.Zxid)
		w.Int(d.Version)
		w.Long(d.Value)
		Seal(&w)
	}
	if s.LastZxid != nil {
		w.Long(*s.LastZxid)
		Seal(&w)
	}
	return w.B
}

// Seal appends ZooKeeper's seal: the Adler-32 of everything so far, as a
// long, and the string "/".
func Seal(w *jute.Writer) {
	w.Long(int64(adler32.Checksum(w.B)))
	w.String("/")
}

// Gzip compresses a snapshot stream as snapshot.<zxid>.gz holds it.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Snappy compresses a snapshot stream as snapshot.<zxid>.snappy holds it
// (snappy-java's SnappyOutputStream), in chunks of chunk bytes.
func Snappy(b []byte, chunk int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(b) > 0 {
		n := min(chunk, len(b))
		c := snappy.Encode(nil, b[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(c)))
		out = append(out, c...)
		b = b[n:]
	}
	return out
}

// Header is a TxnHeader.
type Header struct {
	Session int64
	Cxid    int32
	Zxid    int64
	Time    int64
	Type    jute.Op
}

// Txn encodes a record payload: the header, the body (a record from the
// functions below, or nil) and, when digest is not nil, a TxnDigest of
// version 2 with that value.
func Txn(h Header, body []byte, digest *int64) []byte {
	var w jute.Writer
	w.Long(h.Session)
	w.Int(h.Cxid)
	w.Long(h.Zxid)
	w.Long(h.Time)
	w.Int(int32(h.Type))
	w.B = append(w.B, body...)
	if digest != nil {
		w.Int(2)
		w.Long(*digest)
	}
	return w.B
}

// Record frames a payload as a log record: Adler-32, length, payload, 'B'.
func Record(payload []byte) []byte {
	var w jute.Writer
	w.Long(int64(adler32.Checksum(payload)))
	w.Buffer(payload)
	return append(w.B, 'B')
}

// Log encodes a log file: the header, the records (from Record), and
// padding zero bytes.
func Log(padding int, records ...[]byte) []byte {
	var w jute.Writer
	w.Int(LogMagic)
	w.Int(Version)
	w.Long(0)
	for _, r := range records {
		w.B = append(w.B, r...)
	}
	return append(w.B, make([]byte, padding)...)
}

// Create is a CreateTxn (create, create2).
func Create(path string, data []byte, acl []jute.ACL, ephemeral bool, parentCversion int32) []byte {
	var w jute.Writer
	w.String(path)
	w.Buffer(data)
	w.ACLs(acl)
	w.Bool(ephemeral)
	w.Int(parentCversion)
	return w.B
}

// CreateV0 is a CreateTxnV0 (before ZooKeeper 3.3: no parentCVersion).
func CreateV0(path string, data []byte, acl []jute.ACL, ephemeral bool) []byte {
	var w jute.Writer
	w.String(path)
	w.Buffer(data)
	w.ACLs(acl)
	w.Bool(ephemeral)
	return w.B
}

// CreateContainer is a CreateContainerTxn.
func CreateContainer(path string, data []byte, acl []jute.ACL, parentCversion int32) []byte {
	var w jute.Writer
	w.String(path)
	w.Buffer(data)
	w.ACLs(acl)
	w.Int(parentCversion)
	return w.B
}

// CreateTTL is a CreateTTLTxn.
func CreateTTL(path string, data []byte, acl []jute.ACL, parentCversion int32, ttl int64) []byte {
	var w jute.Writer
	w.String(path)
	w.Buffer(data)
	w.ACLs(acl)
	w.Int(parentCversion)
	w.Long(ttl)
	return w.B
}

// Delete is a DeleteTxn.
func Delete(path string) []byte {
	var w jute.Writer
	w.String(path)
	return w.B
}

// SetData is a SetDataTxn (also a reconfig's body).
func SetData(path string, data []byte, version int32) []byte {
	var w jute.Writer
	w.String(path)
	w.Buffer(data)
	w.Int(version)
	return w.B
}

// SetACL is a SetACLTxn.
func SetACL(path string, acl []jute.ACL, version int32) []byte {
	var w jute.Writer
	w.String(path)
	w.ACLs(acl)
	w.Int(version)
	return w.B
}

// Check is a CheckVersionTxn.
func Check(path string, version int32) []byte {
	var w jute.Writer
	w.String(path)
	w.Int(version)
	return w.B
}

// Error is an ErrorTxn.
func Error(code jute.Err) []byte {
	var w jute.Writer
	w.Int(int32(code))
	return w.B
}

// CreateSession is a CreateSessionTxn.
func CreateSession(timeoutMs int32) []byte {
	var w jute.Writer
	w.Int(timeoutMs)
	return w.B
}

// CloseSession is a CloseSessionTxn.
func CloseSession(paths ...string) []byte {
	var w jute.Writer
	w.Strings(paths)
	return w.B
}

// Sub is a multi's sub-transaction.
type Sub struct {
	Type jute.Op
	Body []byte
}

// Multi is a MultiTxn.
func Multi(subs ...Sub) []byte {
	var w jute.Writer
	w.Int(int32(len(subs)))
	for _, s := range subs {
		w.Int(int32(s.Type))
		w.Buffer(s.Body)
	}
	return w.B
}
