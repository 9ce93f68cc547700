package tree

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"zkd/netio/jute"
)

// Txn is one transaction: the idempotent result of preparing a write
// request. It carries final values (the new version, the final sequential
// name, the parent's new cversion, the zxid and the time), so that applying
// it needs nothing but the tree, and applying it twice leaves the tree as
// applying it once.
type Txn struct {
	Zxid    int64
	Time    int64 // milliseconds since the epoch, chosen by the leader
	Session int64
	Cxid    int32
	Type    jute.Op

	Path    string
	Data    []byte
	ACL     []jute.ACL
	Owner   int64    // create: the node's ephemeralOwner (session, container or TTL)
	Version int32    // create: parent's new cversion; setData/setACL: the new version; check: the expected one
	Err     jute.Err // OpError: the error this op (or this failed multi op) reports
	Timeout int32    // createSession: negotiated timeout in ms
	Paths   []string // closeSession: the session's ephemerals, deleted in this order
	Ops     []Txn    // multi: sub-transactions
}

// IsCreate reports whether op creates a node.
func IsCreate(op jute.Op) bool {
	return op == jute.OpCreate || op == jute.OpCreate2 || op == jute.OpCreateContainer || op == jute.OpCreateTTL
}

// ErrBadTxn is returned when an encoded transaction cannot be decoded.
var ErrBadTxn = errors.New("tree: malformed transaction")

// maxTxnDepth bounds multi nesting when decoding; ZooKeeper never nests.
const maxTxnDepth = 1

// Encode appends the transaction to w. The layout is ours (zkd's log and
// peer protocol), built from jute primitives.
func (t *Txn) Encode(w *jute.Writer) {
	w.Long(t.Zxid)
	w.Long(t.Time)
	w.Long(t.Session)
	w.Int(t.Cxid)
	w.Int(int32(t.Type))
	t.encodeBody(w)
}

// SizeHint is about the size of t's encoding, at least as large for the
// common transactions: a buffer made with it as capacity takes Encode
// without growing (growing from empty cost a leader about a tenth of its
// CPU, copying each 1 KB value up through every size class).
func (t *Txn) SizeHint() int {
	n := 64 + len(t.Path) + len(t.Data)
	for _, a := range t.ACL {
		n += 16 + len(a.ID.Scheme) + len(a.ID.ID)
	}
	for _, p := range t.Paths {
		n += 4 + len(p)
	}
	for i := range t.Ops {
		n += t.Ops[i].SizeHint()
	}
	return n
}

func (t *Txn) encodeBody(w *jute.Writer) {
	switch {
	case IsCreate(t.Type):
		w.String(t.Path)
		w.Buffer(t.Data)
		w.ACLs(t.ACL)
		w.Long(t.Owner)
		w.Int(t.Version)
	case t.Type == jute.OpDelete || t.Type == jute.OpDeleteContainer:
		w.String(t.Path)
	case t.Type == jute.OpSetData:
		w.String(t.Path)
		w.Buffer(t.Data)
		w.Int(t.Version)
	case t.Type == jute.OpSetACL:
		w.String(t.Path)
		w.ACLs(t.ACL)
		w.Int(t.Version)
	case t.Type == jute.OpCheck:
		w.String(t.Path)
		w.Int(t.Version)
	case t.Type == jute.OpError:
		w.Int(int32(t.Err))
	case t.Type == jute.OpCreateSession:
		w.Int(t.Timeout)
	case t.Type == jute.OpCloseSession:
		w.Strings(t.Paths)
	case t.Type == jute.OpMulti:
		w.Int(int32(len(t.Ops)))
		for i := range t.Ops {
			w.Int(int32(t.Ops[i].Type))
			t.Ops[i].encodeBody(w)
		}
	}
}

// Decode reads a transaction written by Encode.
func (t *Txn) Decode(r *jute.Reader) { t.decode(r, false) }

func (t *Txn) decode(r *jute.Reader, shared bool) {
	t.Zxid = r.Long()
	t.Time = r.Long()
	t.Session = r.Long()
	t.Cxid = r.Int()
	t.Type = jute.Op(r.Int())
	t.decodeBody(r, 0, shared)
}

// readData reads a txn's data, a slice of r's bytes when shared.
func readData(r *jute.Reader, shared bool) []byte {
	if shared {
		return r.BufferView()
	}
	return r.Buffer()
}

func (t *Txn) decodeBody(r *jute.Reader, depth int, shared bool) {
	switch {
	case IsCreate(t.Type):
		t.Path = readString(r)
		t.Data = readData(r, shared)
		t.ACL = readACLs(r)
		t.Owner = r.Long()
		t.Version = r.Int()
	case t.Type == jute.OpDelete || t.Type == jute.OpDeleteContainer:
		t.Path = readString(r)
	case t.Type == jute.OpSetData:
		t.Path = readString(r)
		t.Data = readData(r, shared)
		t.Version = r.Int()
	case t.Type == jute.OpSetACL:
		t.Path = readString(r)
		t.ACL = readACLs(r)
		t.Version = r.Int()
	case t.Type == jute.OpCheck:
		t.Path = readString(r)
		t.Version = r.Int()
	case t.Type == jute.OpError:
		t.Err = jute.Err(r.Int())
	case t.Type == jute.OpCreateSession:
		t.Timeout = r.Int()
	case t.Type == jute.OpCloseSession:
		t.Paths = readStrings(r)
	case t.Type == jute.OpMulti && depth < maxTxnDepth:
		n := int(r.Int())
		if n < 0 || n > r.Len()/4 {
			fail(r)
			return
		}
		t.Ops = make([]Txn, n)
		for i := range t.Ops {
			t.Ops[i].Type = jute.Op(r.Int())
			t.Ops[i].Zxid, t.Ops[i].Time, t.Ops[i].Session, t.Ops[i].Cxid = t.Zxid, t.Time, t.Session, t.Cxid
			t.Ops[i].decodeBody(r, depth+1, shared)
		}
	case t.Type == jute.OpSync:
	default:
		fail(r)
	}
}

// fail makes r's error sticky: every later read fails too.
func fail(r *jute.Reader) {
	r.Reset(nil)
	_ = r.Int()
}

// readString reads a string as Encode writes it. A txn decodes only from
// the bytes Encode makes of it, so two things jute's reader would accept
// are malformed here: a null length (-1), which it takes as "" and Encode
// would write back as 0, and bytes that are not UTF-8, which it repairs
// (every string of a txn came through that reader, so Encode only ever
// writes valid UTF-8: such bytes are damage, not a string).
func readString(r *jute.Reader) string {
	if rest := r.Rest(); len(rest) >= 4 {
		n := int64(int32(binary.BigEndian.Uint32(rest)))
		if n == -1 || n >= 0 && n <= int64(len(rest)-4) && !utf8.Valid(rest[4:4+n]) {
			fail(r)
			return ""
		}
	}
	return r.String()
}

// readACLs reads an ACL vector (null is nil) with readString's rule.
func readACLs(r *jute.Reader) []jute.ACL {
	n := r.Int()
	if n == -1 || r.Err() != nil {
		return nil
	}
	// An ACL takes at least 12 bytes: perms and two string lengths.
	if n < -1 || int64(n)*12 > int64(r.Len()) {
		fail(r)
		return nil
	}
	v := make([]jute.ACL, n)
	for i := range v {
		v[i].Perms = r.Int()
		v[i].ID.Scheme = readString(r)
		v[i].ID.ID = readString(r)
	}
	if r.Err() != nil {
		return nil
	}
	return v
}

// readStrings reads a string vector (null is nil) with readString's rule.
func readStrings(r *jute.Reader) []string {
	n := r.Int()
	if n == -1 || r.Err() != nil {
		return nil
	}
	if n < -1 || int64(n)*4 > int64(r.Len()) {
		fail(r)
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = readString(r)
	}
	if r.Err() != nil {
		return nil
	}
	return v
}

// DecodeTxn decodes one transaction that fills all of b: trailing bytes
// are an error, so that a txn that decodes re-encodes to exactly b.
func DecodeTxn(b []byte) (Txn, error) { return decodeTxn(b, false) }

// DecodeTxnShared is DecodeTxn without copying the data of the txn (and
// of a multi's ops): it aliases b, for a caller whose b stays unchanged
// while the txn is used, such as a replicated log entry being applied (the
// tree copies the data it keeps). It saves a follower an allocation and a
// copy of every value it applies.
func DecodeTxnShared(b []byte) (Txn, error) { return decodeTxn(b, true) }

func decodeTxn(b []byte, shared bool) (Txn, error) {
	var t Txn
	r := jute.NewReader(b)
	t.decode(r, shared)
	if r.Err() != nil || r.Len() != 0 {
		return Txn{}, ErrBadTxn
	}
	return t, nil
}
