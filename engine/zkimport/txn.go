package zkimport

import (
	"errors"
	"fmt"
	"strings"

	"zkd/netio/jute"
	"zkd/tree"
)

// TxnHeader is ZooKeeper's TxnHeader, the start of every log record.
type TxnHeader struct {
	ClientID int64 // the session that sent the request
	Cxid     int32
	Zxid     int64
	Time     int64 // ms since the epoch, the leader's clock
	Type     jute.Op
}

// TxnDigest is what ZooKeeper 3.6+ appends to a log record (unless
// zookeeper.digest.enabled=false): the digest of its whole tree after the
// transaction (see Digest).
type TxnDigest struct {
	Version int32
	Tree    int64
}

// Entry is one decoded log record.
type Entry struct {
	Header TxnHeader
	// Txn is the transaction as zkd applies it (tree.Txn), with the
	// header's zxid, time, session and cxid.
	Txn tree.Txn
	// Digest is nil when the record carries none.
	Digest *TxnDigest
	// CreateV0 marks a create in the layout before ZooKeeper 3.3, which
	// does not carry the parent's new cversion: Txn.Version is -1 and
	// the caller sets it to the parent's stored cversion + 1 just before
	// applying, as ZooKeeper's DataTree does.
	CreateV0 bool
}

// ErrBadRecord is wrapped by every error DecodeEntry returns for bytes that
// do not decode as a ZooKeeper transaction.
var ErrBadRecord = errors.New("zkimport: malformed transaction")

// ErrUnsupported is wrapped when a record decodes but holds a transaction
// zkd cannot represent.
var ErrUnsupported = errors.New("zkimport: unsupported transaction")

const (
	txnHeaderBytes = 8 + 4 + 8 + 8 + 4
	txnDigestBytes = 4 + 8
)

// DecodeEntry decodes one log record's payload: a TxnHeader, the
// transaction record its type names (none for a closeSession written
// without its CloseSessionTxn), and an optional TxnDigest. Nothing else
// may follow. The transaction is converted to zkd's tree.Txn:
//
//	create, create2          create with owner = session if ephemeral, else 0
//	createContainer          create with the container owner
//	createTTL                create with the TTL owner (ttl in 1 .. 2^40-1)
//	delete, deleteContainer  the same
//	setData, reconfig        setData (reconfig is a setData of /zookeeper/config)
//	setACL, check, error     the same
//	createSession            createSession with the negotiated timeout
//	closeSession             closeSession with the paths to delete, if logged
//	multi                    multi, with ZooKeeper's rewrite of a failed one
//
// Version carries the parent's new cversion for a create and the new
// version for setData and setACL, as in both servers' transactions.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) < txnHeaderBytes {
		return e, fmt.Errorf("%w: %d bytes, shorter than a header", ErrBadRecord, len(b))
	}
	r := jute.NewReader(b)
	h := &e.Header
	h.ClientID = r.Long()
	h.Cxid = r.Int()
	h.Zxid = r.Long()
	h.Time = r.Long()
	h.Type = jute.Op(r.Int())
	x := &e.Txn
	x.Zxid, x.Time, x.Session, x.Cxid, x.Type = h.Zxid, h.Time, h.ClientID, h.Cxid, h.Type
	body := r.Rest()

	var rest []byte
	var err error
	switch h.Type {
	case jute.OpCloseSession:
		// CloseSessionTxn is there since 3.6 unless
		// zookeeper.closeSessionTxn.enabled=false; older logs hold none.
		// A body of absolute paths that leaves exactly nothing or a
		// digest is taken (a lone digest of value 0 would otherwise
		// read as two empty paths).
		if paths, tail, perr := decodeCloseSession(body); perr == nil && (len(tail) == 0 || len(tail) == txnDigestBytes) {
			x.Paths, rest = paths, tail
		} else {
			rest = body
		}
	case jute.OpCreate:
		rest, err = decodeBody(x, h.Type, h.ClientID, body)
		if err != nil {
			// Perhaps the pre-3.3 layout without parentCVersion.
			*x = tree.Txn{Zxid: h.Zxid, Time: h.Time, Session: h.ClientID, Cxid: h.Cxid, Type: h.Type}
			if rest, err = decodeCreateV0(x, h.ClientID, body); err == nil {
				e.CreateV0 = true
			}
		}
	case jute.OpMulti:
		rest, err = decodeMulti(x, h.ClientID, body)
	default:
		rest, err = decodeBody(x, h.Type, h.ClientID, body)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("zxid 0x%x (%v): %w", h.Zxid, h.Type, err)
	}
	switch len(rest) {
	case 0:
	case txnDigestBytes:
		dr := jute.NewReader(rest)
		e.Digest = &TxnDigest{Version: dr.Int(), Tree: dr.Long()}
	default:
		return Entry{}, fmt.Errorf("%w: zxid 0x%x (%v): %d bytes after the transaction", ErrBadRecord, h.Zxid, h.Type, len(rest))
	}
	return e, nil
}

// decodeBody decodes the record of a transaction of type op (not multi,
// not closeSession) from b into x and returns what follows it.
func decodeBody(x *tree.Txn, op jute.Op, session int64, b []byte) ([]byte, error) {
	r := jute.NewReader(b)
	switch op {
	case jute.OpCreate, jute.OpCreate2:
		// CreateTxn: path, data, acl, ephemeral, parentCVersion.
		x.Path, x.Data, x.ACL = r.String(), r.Buffer(), r.ACLs()
		if r.Bool() {
			x.Owner = session
		}
		x.Version = r.Int()
	case jute.OpCreateContainer:
		// CreateContainerTxn: path, data, acl, parentCVersion.
		x.Path, x.Data, x.ACL = r.String(), r.Buffer(), r.ACLs()
		x.Version = r.Int()
		x.Owner = jute.ContainerEphemeralOwner
	case jute.OpCreateTTL:
		// CreateTTLTxn: path, data, acl, parentCVersion, ttl.
		x.Path, x.Data, x.ACL = r.String(), r.Buffer(), r.ACLs()
		x.Version = r.Int()
		ttl := r.Long()
		if r.Err() == nil && (ttl <= 0 || ttl > jute.TTLMax) {
			// ZooKeeper's DataTree throws on it too: the server that
			// logged it could not replay its own log.
			return nil, fmt.Errorf("%w: createTTL %q with ttl %d out of 1..%d", ErrUnsupported, x.Path, ttl, jute.TTLMax)
		}
		x.Owner = jute.TTLOwner(ttl)
	case jute.OpDelete, jute.OpDeleteContainer:
		// DeleteTxn: path.
		x.Path = r.String()
	case jute.OpSetData, jute.OpReconfig:
		// SetDataTxn: path, data, version. A reconfig applies as a
		// setData of the new configuration to /zookeeper/config.
		x.Type = jute.OpSetData
		x.Path, x.Data, x.Version = r.String(), r.Buffer(), r.Int()
	case jute.OpSetACL:
		// SetACLTxn: path, acl, version.
		x.Path, x.ACL, x.Version = r.String(), r.ACLs(), r.Int()
	case jute.OpCheck:
		// CheckVersionTxn: path, version.
		x.Path, x.Version = r.String(), r.Int()
	case jute.OpError:
		// ErrorTxn: err.
		x.Err = jute.Err(r.Int())
	case jute.OpCreateSession:
		// CreateSessionTxn: timeOut.
		x.Timeout = r.Int()
	default:
		return nil, fmt.Errorf("%w: type %d (%v)", ErrUnsupported, int32(op), op)
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %v record: %v", ErrBadRecord, op, r.Err())
	}
	return r.Rest(), nil
}

// decodeCreateV0 decodes CreateTxnV0 (path, data, acl, ephemeral): the
// parent's new cversion is left for the caller to fill in.
func decodeCreateV0(x *tree.Txn, session int64, b []byte) ([]byte, error) {
	r := jute.NewReader(b)
	x.Path, x.Data, x.ACL = r.String(), r.Buffer(), r.ACLs()
	if r.Bool() {
		x.Owner = session
	}
	x.Version = -1
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: create record: %v", ErrBadRecord, r.Err())
	}
	return r.Rest(), nil
}

// decodeCloseSession decodes CloseSessionTxn: vector<ustring> paths2Delete.
func decodeCloseSession(b []byte) ([]string, []byte, error) {
	r := jute.NewReader(b)
	paths := r.Strings()
	if r.Err() != nil {
		return nil, nil, r.Err()
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, nil, fmt.Errorf("%w: closeSession path %q", ErrBadRecord, p)
		}
	}
	return paths, r.Rest(), nil
}

// multiSubOpsMax bounds the sub-transactions of one multi; each takes at
// least 8 bytes (type and buffer length), so the record's size bounds it
// anyway.
const multiSubOpsMax = 1 << 20

// decodeMulti decodes MultiTxn: vector<Txn{int type; buffer data}>, each
// data a whole record of its type. As ZooKeeper's DataTree does when it
// applies one, a multi holding an error sub-transaction becomes all
// errors: the sub-transactions before the first error report OK, those
// after it RuntimeInconsistency, and error ones keep their codes, which
// is also how zkd's Preparer writes a failed multi.
func decodeMulti(x *tree.Txn, session int64, b []byte) ([]byte, error) {
	r := jute.NewReader(b)
	n := r.Int()
	if r.Err() != nil || n < 0 || n > multiSubOpsMax || int64(n)*8 > int64(r.Len()) {
		return nil, fmt.Errorf("%w: multi with %d sub-transactions in %d bytes", ErrBadRecord, n, len(b))
	}
	x.Ops = make([]tree.Txn, n)
	failed := false
	for i := range x.Ops {
		op := jute.Op(r.Int())
		data := r.Buffer()
		if r.Err() != nil {
			return nil, fmt.Errorf("%w: multi sub-transaction %d: %v", ErrBadRecord, i, r.Err())
		}
		sub := &x.Ops[i]
		*sub = tree.Txn{Zxid: x.Zxid, Time: x.Time, Session: x.Session, Cxid: x.Cxid, Type: op}
		switch op {
		case jute.OpCreate, jute.OpCreate2, jute.OpCreateTTL, jute.OpCreateContainer,
			jute.OpDelete, jute.OpDeleteContainer, jute.OpSetData, jute.OpCheck, jute.OpError:
		default:
			// What ZooKeeper's DataTree refuses in a multi ("Invalid type
			// of op"): setACL, sessions, nested multis.
			return nil, fmt.Errorf("%w: %v (type %d) inside a multi", ErrUnsupported, op, int32(op))
		}
		rest, err := decodeBody(sub, op, session, data)
		if err != nil {
			return nil, fmt.Errorf("multi sub-transaction %d: %w", i, err)
		}
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: multi sub-transaction %d (%v): %d bytes after its record", ErrBadRecord, i, op, len(rest))
		}
		failed = failed || op == jute.OpError
	}
	if failed {
		seenErr := false
		for i := range x.Ops {
			sub := &x.Ops[i]
			if sub.Type == jute.OpError {
				seenErr = true
				continue
			}
			code := jute.ErrOK
			if seenErr {
				code = jute.ErrRuntimeInconsistency
			}
			*sub = tree.Txn{Zxid: x.Zxid, Time: x.Time, Session: x.Session, Cxid: x.Cxid, Type: jute.OpError, Err: code}
		}
	}
	return r.Rest(), nil
}
