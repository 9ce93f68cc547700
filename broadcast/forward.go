package broadcast

import (
	"errors"

	"zkd/netio/jute"
	"zkd/tree"
)

// Forward payloads are what ensemble servers send each other besides Zab
// itself, as the Data of a zab.MsgForward's entries. Each starts with its
// kind (a jute int) and is jute-encoded after it:
//
//	request  session:long cxid:int op:int timeout:int auth:vector<ID> body
//	syncAck  session:long cxid:int zxid:long
//	touch    count:int session:long*
//
// A request's body is the op's client record (CreateRequest, ...), absent
// for ops without one. The leader stamps forwarded requests with its own
// clock, as it would a local one.
const (
	fwdRequest int32 = iota + 1 // follower → leader: a client write or sync
	fwdSyncAck                  // leader → follower: the zxid a sync must wait for
	fwdTouch                    // follower → leader: sessions heard from
)

// errBadForward reports a forward payload that does not decode.
var errBadForward = errors.New("broadcast: malformed forwarded message")

// touchSessionsMax bounds a touch's session count: a peer cannot make us
// allocate more than its message could hold.
const touchSessionsMax = 1 << 20

func appendForwardRequest(b []byte, r *Request) []byte {
	w := jute.Writer{B: b}
	w.Int(fwdRequest)
	w.Long(r.Session)
	w.Int(r.Cxid)
	w.Int(int32(r.Op))
	w.Int(r.Timeout)
	w.Int(int32(len(r.Auth)))
	for i := range r.Auth {
		r.Auth[i].Encode(&w)
	}
	r.EncodeBody(&w)
	return w.B
}

// decodeForwardRequest decodes a request payload (after its kind).
func decodeForwardRequest(r *jute.Reader) (*Request, error) {
	q := &Request{}
	q.Session = r.Long()
	q.Cxid = r.Int()
	q.Op = jute.Op(r.Int())
	q.Timeout = r.Int()
	n := int(r.Int())
	if n < 0 || n > r.Len()/8 {
		return nil, errBadForward
	}
	if n > 0 {
		q.Auth = make([]jute.ID, n)
		for i := range q.Auth {
			q.Auth[i].Decode(r)
		}
	}
	if !q.DecodeBody(r) {
		switch q.Op {
		case jute.OpSync, jute.OpCreateSession, jute.OpCloseSession, jute.OpReconfig:
		default:
			return nil, errBadForward
		}
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, errBadForward
	}
	return q, nil
}

func appendSyncAck(b []byte, session int64, cxid int32, zxid int64) []byte {
	w := jute.Writer{B: b}
	w.Int(fwdSyncAck)
	w.Long(session)
	w.Int(cxid)
	w.Long(zxid)
	return w.B
}

func appendTouch(b []byte, sessions []int64) []byte {
	w := jute.Writer{B: b}
	w.Int(fwdTouch)
	w.Int(int32(len(sessions)))
	for _, s := range sessions {
		w.Long(s)
	}
	return w.B
}

// forwarded is one decoded forward payload.
type forwarded struct {
	kind     int32
	req      *Request // fwdRequest
	session  int64    // fwdSyncAck
	cxid     int32
	zxid     int64
	sessions []int64 // fwdTouch
}

func decodeForward(b []byte) (forwarded, error) {
	var r jute.Reader
	r.Reset(b)
	f := forwarded{kind: r.Int()}
	switch f.kind {
	case fwdRequest:
		q, err := decodeForwardRequest(&r)
		if err != nil {
			return f, err
		}
		f.req = q
		return f, nil
	case fwdSyncAck:
		f.session, f.cxid, f.zxid = r.Long(), r.Int(), r.Long()
	case fwdTouch:
		n := int(r.Int())
		if n < 0 || n > touchSessionsMax || n > r.Len()/8 {
			return f, errBadForward
		}
		f.sessions = make([]int64, n)
		for i := range f.sessions {
			f.sessions[i] = r.Long()
		}
	default:
		return f, errBadForward
	}
	if r.Err() != nil || r.Len() != 0 {
		return f, errBadForward
	}
	return f, nil
}

// syncTxn is the no-change transaction that answers a sync once the tree
// has reached zxid.
func syncTxn(r *Request, zxid int64) tree.Txn {
	return tree.Txn{Type: jute.OpSync, Zxid: zxid, Session: r.Session, Cxid: r.Cxid}
}
