package broadcast

import (
	"reflect"
	"testing"

	"zkd/netio/jute"
	"zkd/tree"
)

func TestForwardRequestRoundTrip(t *testing.T) {
	acl := []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	auth := []jute.ID{{Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "digest", ID: "u:x"}}
	cases := []struct {
		name string
		req  tree.Request
	}{
		{"create", tree.Request{Session: 7, Cxid: 3, Op: jute.OpCreate, Auth: auth,
			Create: &jute.CreateRequest{Path: "/a", Data: []byte("d"), ACL: acl, Flags: jute.ModeEphemeral}}},
		{"create2", tree.Request{Session: 7, Cxid: 4, Op: jute.OpCreate2, Create: &jute.CreateRequest{Path: "/b", ACL: acl}}},
		{"createTTL", tree.Request{Session: 7, Cxid: 5, Op: jute.OpCreateTTL,
			Create: &jute.CreateRequest{Path: "/t", ACL: acl, Flags: jute.ModePersistentWithTTL, TTL: 500, HasTTL: true}}},
		{"delete", tree.Request{Session: -1, Cxid: 6, Op: jute.OpDelete, Delete: &jute.PathVersionRequest{Path: "/a", Version: 2}}},
		{"check", tree.Request{Op: jute.OpCheck, Delete: &jute.PathVersionRequest{Path: "/a", Version: -1}}},
		{"setData", tree.Request{Session: 1, Op: jute.OpSetData, SetData: &jute.SetDataRequest{Path: "/a", Data: make([]byte, 1024), Version: -1}}},
		{"setACL", tree.Request{Session: 1, Op: jute.OpSetACL, SetACL: &jute.SetACLRequest{Path: "/a", ACL: acl, Version: 0}}},
		{"multi", tree.Request{Session: 1, Op: jute.OpMulti, Multi: &jute.MultiRequest{Ops: []jute.MultiOp{
			{Op: jute.OpCreate, Create: jute.CreateRequest{Path: "/m", ACL: acl}},
			{Op: jute.OpDelete, Delete: jute.PathVersionRequest{Path: "/m", Version: 0}},
		}}}},
		{"createSession", tree.Request{Session: 99, Op: jute.OpCreateSession, Timeout: 4000}},
		{"closeSession", tree.Request{Session: 99, Cxid: 12, Op: jute.OpCloseSession}},
		{"sync", tree.Request{Session: 99, Cxid: 13, Op: jute.OpSync}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &Request{Request: c.req}
			f, err := decodeForward(appendForwardRequest(nil, in))
			if err != nil {
				t.Fatal(err)
			}
			if f.kind != fwdRequest || !sameRequest(f.req.Request, c.req) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", f.req.Request, c.req)
			}
		})
	}
}

// sameRequest compares what a request says: its exported fields, and
// the records they point to (a decoded request keeps its record inline,
// a literal one elsewhere).
func sameRequest(a, b tree.Request) bool {
	said := func(q tree.Request) tree.Request {
		return tree.Request{Session: q.Session, Cxid: q.Cxid, Op: q.Op, Auth: q.Auth, Create: q.Create, Delete: q.Delete,
			SetData: q.SetData, SetACL: q.SetACL, Multi: q.Multi, Timeout: q.Timeout}
	}
	return reflect.DeepEqual(said(a), said(b))
}

func TestForwardAckAndTouchRoundTrip(t *testing.T) {
	f, err := decodeForward(appendSyncAck(nil, -5, 9, 1<<33|7))
	if err != nil || f.kind != fwdSyncAck || f.session != -5 || f.cxid != 9 || f.zxid != 1<<33|7 {
		t.Fatalf("sync ack: %+v %v", f, err)
	}
	ids := []int64{1, -2, 3 << 56}
	f, err = decodeForward(appendTouch(nil, ids))
	if err != nil || f.kind != fwdTouch || !reflect.DeepEqual(f.sessions, ids) {
		t.Fatalf("touch: %+v %v", f, err)
	}
}

func TestForwardRejectsBadInput(t *testing.T) {
	good := appendForwardRequest(nil, &Request{Request: tree.Request{Op: jute.OpDelete, Delete: &jute.PathVersionRequest{Path: "/a"}}})
	cases := map[string][]byte{
		"empty":          nil,
		"unknown kind":   {0, 0, 0, 9},
		"truncated":      good[:len(good)-2],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"read op":        appendForwardRequest(nil, &Request{Request: tree.Request{Op: jute.OpGetData}}),
		"huge auth":      {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff},
		"huge touch":     {0, 0, 0, 3, 0x7f, 0xff, 0xff, 0xff},
		"negative touch": {0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff},
	}
	for name, b := range cases {
		if _, err := decodeForward(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeForward(f *testing.F) {
	f.Add(appendForwardRequest(nil, &Request{Request: tree.Request{Session: 1, Op: jute.OpSetData, SetData: &jute.SetDataRequest{Path: "/a", Data: []byte("x")}}}))
	f.Add(appendSyncAck(nil, 1, 2, 3))
	f.Add(appendTouch(nil, []int64{1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fw, err := decodeForward(b)
		if err != nil || fw.kind != fwdRequest {
			return
		}
		// What decodes re-encodes to a payload that decodes the same.
		again, err := decodeForward(appendForwardRequest(nil, fw.req))
		if err != nil || !sameRequest(again.req.Request, fw.req.Request) {
			t.Fatalf("re-encoding changed the request: %+v -> %+v (%v)", fw.req.Request, again.req, err)
		}
	})
}
