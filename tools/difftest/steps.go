package difftest

import "zkd/netio/jute"

// Step constructors for hand-written sequences (scenarios and repros).
// Paths are templates as in Step: "~" is the namespace root, "@ID" the
// path step ID created.

// Create is a create-family request (op create, create2, createContainer
// or createTTL) on slot s.
func Create(s int, op jute.Op, path, data string, mode int32, ttl int64, acl ...jute.ACL) Step {
	if acl == nil {
		acl = openACL
	}
	var d []byte
	if data != "<null>" {
		d = []byte(data)
	}
	return Step{S: s, Op: op, Req: &jute.CreateRequest{Path: path, Data: d, ACL: acl, Flags: mode, TTL: ttl, HasTTL: op == jute.OpCreateTTL}}
}

// Call is any request with an ordinary xid.
func Call(s int, op jute.Op, req jute.Record) Step { return Step{S: s, Op: op, Req: req} }

// Read is exists, getData, getChildren or getChildren2.
func Read(s int, op jute.Op, path string, watch bool) Step {
	return Step{S: s, Op: op, Req: &jute.PathWatchRequest{Path: path, Watch: watch}}
}

// Auth is addauth.
func Auth(s int, scheme, auth string) Step {
	return Step{S: s, Kind: KindAuth, Op: jute.OpAuth, Req: &jute.AuthPacket{Scheme: scheme, Auth: []byte(auth)}}
}

// Multi is a multi (or multiRead) of ops.
func Multi(s int, op jute.Op, ops ...jute.MultiOp) Step {
	return Step{S: s, Op: op, Req: &jute.MultiRequest{Ops: ops}}
}

// MCreate is a create-family op inside a multi.
func MCreate(op jute.Op, path string, mode int32, ttl int64, acl ...jute.ACL) jute.MultiOp {
	if acl == nil {
		acl = openACL
	}
	return jute.MultiOp{Op: op, Create: jute.CreateRequest{Path: path, Data: []byte("x"), ACL: acl, Flags: mode, TTL: ttl}}
}

// WhoAmI, Ping, Reconnect and CloseSession on slot s.
func WhoAmI(s int) Step       { return Step{S: s, Op: jute.OpWhoAmI} }
func Ping(s int) Step         { return Step{S: s, Kind: KindPing, Op: jute.OpPing} }
func Reconnect(s int) Step    { return Step{S: s, Kind: KindReconnect} }
func CloseSession(s int) Step { return Step{S: s, Kind: KindClose, Op: jute.OpCloseSession} }

// SetWatches is setWatches (two: setWatches2) with the relative zxid rel.
func SetWatches(s int, sw *jute.SetWatches, rel Rel) Step {
	op := jute.OpSetWatches
	if sw.Two {
		op = jute.OpSetWatches2
	}
	return Step{S: s, Kind: KindSetWatches, Op: op, Req: sw, Rel: rel}
}

// NewSequence numbers the steps' IDs in order.
func NewSequence(steps ...Step) *Sequence {
	seq := &Sequence{Steps: steps}
	for i := range seq.Steps {
		seq.Steps[i].ID = i
	}
	return seq
}
