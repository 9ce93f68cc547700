package zkimport

import (
	"errors"
	"reflect"
	"testing"

	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
	"zkd/tree"
)

var (
	testACL    = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	digestACL  = []jute.ACL{{Perms: jute.PermRead | jute.PermWrite, ID: jute.ID{Scheme: "digest", ID: "alice:hash"}}}
	testHeader = zktest.Header{Session: 0x1000a, Cxid: 7, Zxid: 0x100000005, Time: 1700000000123}
)

// want is the tree.Txn a record with testHeader and type op converts to,
// with fields set by f.
func want(op jute.Op, f func(x *tree.Txn)) tree.Txn {
	x := tree.Txn{Zxid: testHeader.Zxid, Time: testHeader.Time, Session: testHeader.Session, Cxid: testHeader.Cxid, Type: op}
	if f != nil {
		f(&x)
	}
	return x
}

// sub is a multi sub-transaction with the multi's header.
func sub(op jute.Op, f func(x *tree.Txn)) tree.Txn { return want(op, f) }

func TestDecodeEntry(t *testing.T) {
	digest := int64(-0x123456789abcdef)
	tests := []struct {
		name   string
		op     jute.Op
		body   []byte
		digest bool
		want   tree.Txn
		v0     bool
	}{
		{"create", jute.OpCreate, zktest.Create("/a", []byte("x"), testACL, false, 3), true,
			want(jute.OpCreate, func(x *tree.Txn) { x.Path, x.Data, x.ACL, x.Version = "/a", []byte("x"), testACL, 3 }), false},
		{"create ephemeral null data", jute.OpCreate, zktest.Create("/e", nil, digestACL, true, 1), false,
			want(jute.OpCreate, func(x *tree.Txn) { x.Path, x.ACL, x.Owner, x.Version = "/e", digestACL, testHeader.Session, 1 }), false},
		{"create2 empty data", jute.OpCreate2, zktest.Create("/b", []byte{}, testACL, false, 9), true,
			want(jute.OpCreate2, func(x *tree.Txn) { x.Path, x.Data, x.ACL, x.Version = "/b", []byte{}, testACL, 9 }), false},
		{"create v0", jute.OpCreate, zktest.CreateV0("/old", []byte("o"), testACL, true), false,
			want(jute.OpCreate, func(x *tree.Txn) {
				x.Path, x.Data, x.ACL, x.Owner, x.Version = "/old", []byte("o"), testACL, testHeader.Session, -1
			}), true},
		{"createContainer", jute.OpCreateContainer, zktest.CreateContainer("/c", []byte("c"), testACL, 4), true,
			want(jute.OpCreateContainer, func(x *tree.Txn) {
				x.Path, x.Data, x.ACL, x.Version, x.Owner = "/c", []byte("c"), testACL, 4, jute.ContainerEphemeralOwner
			}), false},
		{"createTTL", jute.OpCreateTTL, zktest.CreateTTL("/t", nil, testACL, 5, 60000), true,
			want(jute.OpCreateTTL, func(x *tree.Txn) { x.Path, x.ACL, x.Version, x.Owner = "/t", testACL, 5, jute.TTLOwner(60000) }), false},
		{"delete", jute.OpDelete, zktest.Delete("/a"), true,
			want(jute.OpDelete, func(x *tree.Txn) { x.Path = "/a" }), false},
		{"deleteContainer", jute.OpDeleteContainer, zktest.Delete("/c"), false,
			want(jute.OpDeleteContainer, func(x *tree.Txn) { x.Path = "/c" }), false},
		{"setData", jute.OpSetData, zktest.SetData("/a", []byte("y"), 2), true,
			want(jute.OpSetData, func(x *tree.Txn) { x.Path, x.Data, x.Version = "/a", []byte("y"), 2 }), false},
		{"reconfig", jute.OpReconfig, zktest.SetData("/zookeeper/config", []byte("server.1=a:1:2"), 1), true,
			want(jute.OpSetData, func(x *tree.Txn) { x.Path, x.Data, x.Version = "/zookeeper/config", []byte("server.1=a:1:2"), 1 }), false},
		{"setACL", jute.OpSetACL, zktest.SetACL("/a", digestACL, 1), true,
			want(jute.OpSetACL, func(x *tree.Txn) { x.Path, x.ACL, x.Version = "/a", digestACL, 1 }), false},
		{"check", jute.OpCheck, zktest.Check("/a", 4), false,
			want(jute.OpCheck, func(x *tree.Txn) { x.Path, x.Version = "/a", 4 }), false},
		{"error", jute.OpError, zktest.Error(jute.ErrNodeExists), true,
			want(jute.OpError, func(x *tree.Txn) { x.Err = jute.ErrNodeExists }), false},
		{"createSession", jute.OpCreateSession, zktest.CreateSession(30000), true,
			want(jute.OpCreateSession, func(x *tree.Txn) { x.Timeout = 30000 }), false},
		{"closeSession paths", jute.OpCloseSession, zktest.CloseSession("/e", "/f"), true,
			want(jute.OpCloseSession, func(x *tree.Txn) { x.Paths = []string{"/e", "/f"} }), false},
		{"closeSession no paths", jute.OpCloseSession, zktest.CloseSession(), false,
			want(jute.OpCloseSession, nil), false},
		{"closeSession without body", jute.OpCloseSession, nil, false,
			want(jute.OpCloseSession, nil), false},
		{"closeSession without body with digest", jute.OpCloseSession, nil, true,
			want(jute.OpCloseSession, nil), false},
		{"multi", jute.OpMulti, zktest.Multi(
			zktest.Sub{Type: jute.OpCreate, Body: zktest.Create("/m", []byte("m"), testACL, false, 2)},
			zktest.Sub{Type: jute.OpSetData, Body: zktest.SetData("/a", []byte("z"), 3)},
			zktest.Sub{Type: jute.OpCheck, Body: zktest.Check("/a", 3)},
			zktest.Sub{Type: jute.OpDelete, Body: zktest.Delete("/b")},
			zktest.Sub{Type: jute.OpCreateTTL, Body: zktest.CreateTTL("/t2", nil, testACL, 3, 1000)},
		), true,
			want(jute.OpMulti, func(x *tree.Txn) {
				x.Ops = []tree.Txn{
					sub(jute.OpCreate, func(y *tree.Txn) { y.Path, y.Data, y.ACL, y.Version = "/m", []byte("m"), testACL, 2 }),
					sub(jute.OpSetData, func(y *tree.Txn) { y.Path, y.Data, y.Version = "/a", []byte("z"), 3 }),
					sub(jute.OpCheck, func(y *tree.Txn) { y.Path, y.Version = "/a", 3 }),
					sub(jute.OpDelete, func(y *tree.Txn) { y.Path = "/b" }),
					sub(jute.OpCreateTTL, func(y *tree.Txn) { y.Path, y.ACL, y.Version, y.Owner = "/t2", testACL, 3, jute.TTLOwner(1000) }),
				}
			}), false},
		{"failed multi", jute.OpMulti, zktest.Multi(
			zktest.Sub{Type: jute.OpCreate, Body: zktest.Create("/m", []byte("m"), testACL, false, 2)},
			zktest.Sub{Type: jute.OpError, Body: zktest.Error(jute.ErrNoNode)},
			zktest.Sub{Type: jute.OpSetData, Body: zktest.SetData("/a", []byte("z"), 3)},
			zktest.Sub{Type: jute.OpError, Body: zktest.Error(jute.ErrRuntimeInconsistency)},
		), true,
			want(jute.OpMulti, func(x *tree.Txn) {
				x.Ops = []tree.Txn{
					sub(jute.OpError, func(y *tree.Txn) { y.Err = jute.ErrOK }),
					sub(jute.OpError, func(y *tree.Txn) { y.Err = jute.ErrNoNode }),
					sub(jute.OpError, func(y *tree.Txn) { y.Err = jute.ErrRuntimeInconsistency }),
					sub(jute.OpError, func(y *tree.Txn) { y.Err = jute.ErrRuntimeInconsistency }),
				}
			}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := testHeader
			h.Type = tc.op
			var d *int64
			if tc.digest {
				d = &digest
			}
			e, err := DecodeEntry(zktest.Txn(h, tc.body, d))
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			if !reflect.DeepEqual(e.Txn, tc.want) {
				t.Errorf("txn\n got %+v\nwant %+v", e.Txn, tc.want)
			}
			if e.CreateV0 != tc.v0 {
				t.Errorf("CreateV0 = %v", e.CreateV0)
			}
			wantHdr := TxnHeader{ClientID: h.Session, Cxid: h.Cxid, Zxid: h.Zxid, Time: h.Time, Type: tc.op}
			if e.Header != wantHdr {
				t.Errorf("header %+v, want %+v", e.Header, wantHdr)
			}
			switch {
			case tc.digest && (e.Digest == nil || *e.Digest != TxnDigest{Version: 2, Tree: digest}):
				t.Errorf("digest %+v, want version 2, %#x", e.Digest, digest)
			case !tc.digest && e.Digest != nil:
				t.Errorf("digest %+v, want none", e.Digest)
			}
			// What DecodeEntry gives, zkd's own log encoding keeps.
			var w jute.Writer
			e.Txn.Encode(&w)
			if back, err := tree.DecodeTxn(w.B); err != nil || !reflect.DeepEqual(back, e.Txn) {
				t.Errorf("zkd encoding round trip: %v\n got %+v", err, back)
			}
		})
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	hdr := func(op jute.Op) zktest.Header { h := testHeader; h.Type = op; return h }
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"short header", zktest.Txn(hdr(jute.OpDelete), nil, nil)[:20], ErrBadRecord},
		{"unknown type", zktest.Txn(hdr(jute.Op(77)), nil, nil), ErrUnsupported},
		{"setWatches is no txn", zktest.Txn(hdr(jute.OpSetWatches), nil, nil), ErrUnsupported},
		{"sync is no txn", zktest.Txn(hdr(jute.OpSync), zktest.Delete("/a"), nil), ErrUnsupported},
		{"cut body", zktest.Txn(hdr(jute.OpSetData), zktest.SetData("/a", []byte("y"), 2)[:6], nil), ErrBadRecord},
		{"trailing bytes", zktest.Txn(hdr(jute.OpDelete), append(zktest.Delete("/a"), 1, 2, 3), nil), ErrBadRecord},
		{"ttl zero", zktest.Txn(hdr(jute.OpCreateTTL), zktest.CreateTTL("/t", nil, testACL, 1, 0), nil), ErrUnsupported},
		{"ttl too long", zktest.Txn(hdr(jute.OpCreateTTL), zktest.CreateTTL("/t", nil, testACL, 1, jute.TTLMax+1), nil), ErrUnsupported},
		{"setACL in multi", zktest.Txn(hdr(jute.OpMulti), zktest.Multi(
			zktest.Sub{Type: jute.OpSetACL, Body: zktest.SetACL("/a", testACL, 1)}), nil), ErrUnsupported},
		{"multi in multi", zktest.Txn(hdr(jute.OpMulti), zktest.Multi(
			zktest.Sub{Type: jute.OpMulti, Body: zktest.Multi()}), nil), ErrUnsupported},
		{"multi sub with trailing bytes", zktest.Txn(hdr(jute.OpMulti), zktest.Multi(
			zktest.Sub{Type: jute.OpDelete, Body: append(zktest.Delete("/a"), 0)}), nil), ErrBadRecord},
		{"multi count beyond the record", zktest.Txn(hdr(jute.OpMulti), []byte{0, 0, 1, 0}, nil), ErrBadRecord},
		{"negative multi count", zktest.Txn(hdr(jute.OpMulti), []byte{0xff, 0xff, 0xff, 0xff}, nil), ErrBadRecord},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEntry(tc.payload)
			if !errors.Is(err, tc.want) {
				t.Errorf("DecodeEntry: %v, want %v", err, tc.want)
			}
		})
	}
}
