package netio_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"zkd/netio/jute"
)

// FuzzServerRequests sends a session's worth of requests made from the
// fuzzer's bytes to a running server (see fuzzRequests for the layout:
// frames and headers are always well formed, so each body reaches the
// server's decoders and handlers), then a ping. The server must answer
// the ping or close the connection within e2eWait, and must still take and
// serve a new session afterwards; a panic anywhere in the server fails
// the target. The seeds, one valid request per operation, run in
// `go test`; `make fuzz` explores from them.
func FuzzServerRequests(f *testing.F) {
	addr := e2eStart(f)
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := e2eRawSession(t, addr)
		frames := append(fuzzRequests(data), e2eRequest(jute.XidPing, jute.OpPing, nil)...)
		// The server may close the connection before it has read them
		// all (bad input costs the connection): a failed write is fine.
		_ = r.write(frames)
		fuzzAwaitPingOrClose(t, r)

		probe := e2eRawSession(t, addr)
		if err := probe.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); err != jute.ErrOK {
			t.Fatalf("a new session after the input: exists /: %v", err)
		}
	})
}

// fuzzOps are the operations a request's first byte picks from; a byte
// past the table is taken as a signed opcode itself.
var fuzzOps = []jute.Op{
	jute.OpCreate, jute.OpDelete, jute.OpExists, jute.OpGetData, jute.OpSetData,
	jute.OpGetACL, jute.OpSetACL, jute.OpGetChildren, jute.OpSync, jute.OpPing,
	jute.OpGetChildren2, jute.OpCheck, jute.OpMulti, jute.OpCreate2, jute.OpReconfig,
	jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpCreateContainer, jute.OpDeleteContainer,
	jute.OpCreateTTL, jute.OpMultiRead, jute.OpAuth, jute.OpSetWatches, jute.OpSASL,
	jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSetWatches2, jute.OpAddWatch,
	jute.OpWhoAmI, jute.OpCreateSession, jute.OpCloseSession,
}

// fuzzRequests turns the fuzzer's bytes into request frames. Each request
// is one byte choosing the opcode, two bytes (big-endian) of body length,
// then the body (cut short where data ends); xids count up from 1.
func fuzzRequests(data []byte) []byte {
	var out []byte
	for xid := int32(1); len(data) >= 3; xid++ {
		op := jute.Op(int8(data[0]))
		if int(data[0]) < len(fuzzOps) {
			op = fuzzOps[data[0]]
		}
		n := min(int(binary.BigEndian.Uint16(data[1:3])), len(data)-3)
		body := data[3 : 3+n]
		data = data[3+n:]
		out = binary.BigEndian.AppendUint32(out, uint32(8+len(body)))
		out = binary.BigEndian.AppendUint32(out, uint32(xid))
		out = binary.BigEndian.AppendUint32(out, uint32(op))
		out = append(out, body...)
	}
	return out
}

// fuzzRequest is one request in fuzzRequests' layout.
func fuzzRequest(op jute.Op, body jute.Record) []byte {
	var w jute.Writer
	if body != nil {
		body.Encode(&w)
	}
	i := 0
	for i < len(fuzzOps) && fuzzOps[i] != op {
		i++
	}
	out := []byte{byte(i)}
	out = binary.BigEndian.AppendUint16(out, uint16(len(w.B)))
	return append(out, w.B...)
}

// fuzzSeeds is one valid request of each kind the server decodes, and a
// few sessions that chain them.
func fuzzSeeds() [][]byte {
	acl := e2eRawOpenACL
	create := &jute.CreateRequest{Path: "/f", Data: []byte("d"), ACL: acl}
	one := [][]byte{
		fuzzRequest(jute.OpCreate, create),
		fuzzRequest(jute.OpCreate2, &jute.CreateRequest{Path: "/f/s-", ACL: acl, Flags: 3}),
		fuzzRequest(jute.OpCreateContainer, &jute.CreateRequest{Path: "/c", ACL: acl, Flags: 4}),
		fuzzRequest(jute.OpCreateTTL, &jute.CreateRequest{Path: "/t", ACL: acl, Flags: 5, TTL: 1000, HasTTL: true}),
		fuzzRequest(jute.OpDelete, &jute.PathVersionRequest{Path: "/f", Version: -1}),
		fuzzRequest(jute.OpCheck, &jute.PathVersionRequest{Path: "/f", Version: 0}),
		fuzzRequest(jute.OpExists, &jute.PathWatchRequest{Path: "/f", Watch: true}),
		fuzzRequest(jute.OpGetData, &jute.PathWatchRequest{Path: "/f", Watch: true}),
		fuzzRequest(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/", Watch: true}),
		fuzzRequest(jute.OpGetChildren2, &jute.PathWatchRequest{Path: "/"}),
		fuzzRequest(jute.OpSetData, &jute.SetDataRequest{Path: "/f", Data: []byte("e"), Version: -1}),
		fuzzRequest(jute.OpGetACL, &jute.PathRequest{Path: "/f"}),
		fuzzRequest(jute.OpSetACL, &jute.SetACLRequest{Path: "/f", ACL: acl, Version: -1}),
		fuzzRequest(jute.OpSync, &jute.PathRequest{Path: "/"}),
		fuzzRequest(jute.OpGetEphemerals, &jute.PathRequest{Path: "/"}),
		fuzzRequest(jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: "/"}),
		fuzzRequest(jute.OpAddWatch, &jute.PathTypeRequest{Path: "/f", Type: 1}),
		fuzzRequest(jute.OpCheckWatches, &jute.PathTypeRequest{Path: "/f", Type: 3}),
		fuzzRequest(jute.OpRemoveWatches, &jute.PathTypeRequest{Path: "/f", Type: 3}),
		fuzzRequest(jute.OpSetWatches, &jute.SetWatches{DataWatches: []string{"/f"}, ExistWatches: []string{}, ChildWatches: []string{"/"}}),
		fuzzRequest(jute.OpSetWatches2, &jute.SetWatches{
			DataWatches: []string{}, ExistWatches: []string{"/g"}, ChildWatches: []string{},
			PersistentWatches: []string{}, PersistentRecursive: []string{"/"}, Two: true,
		}),
		fuzzRequest(jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}),
		fuzzRequest(jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
			{Op: jute.OpCreate, Create: *create},
			{Op: jute.OpSetData, SetData: jute.SetDataRequest{Path: "/f", Version: 0}},
			{Op: jute.OpCheck, Delete: jute.PathVersionRequest{Path: "/f", Version: 1}},
			{Op: jute.OpDelete, Delete: jute.PathVersionRequest{Path: "/f", Version: -1}},
		}}),
		fuzzRequest(jute.OpMultiRead, &jute.MultiRequest{Ops: []jute.MultiOp{
			{Op: jute.OpGetData, Read: jute.PathWatchRequest{Path: "/"}},
			{Op: jute.OpGetChildren, Read: jute.PathWatchRequest{Path: "/"}},
		}}),
		fuzzRequest(jute.OpWhoAmI, nil),
		fuzzRequest(jute.OpPing, nil),
		fuzzRequest(jute.OpCloseSession, nil),
	}
	seeds := append([][]byte(nil), one...)
	var all []byte
	for _, r := range one[:len(one)-1] {
		all = append(all, r...)
	}
	return append(seeds, all, append(all, one[len(one)-1]...))
}

// fuzzAwaitPingOrClose reads until the ping's reply comes or the server
// closes the connection; it fails the test if neither happens in e2eWait.
func fuzzAwaitPingOrClose(t *testing.T, r *e2eRaw) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for time.Now().Before(deadline) {
		h, _, err := r.readReply(time.Until(deadline))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server neither answered the ping nor closed the connection in %v", e2eWait)
		case err != nil:
			return // closed, or a frame we cannot read: the connection is done
		case h.Xid == jute.XidPing:
			return
		}
	}
	t.Fatalf("the server neither answered the ping nor closed the connection in %v", e2eWait)
}
