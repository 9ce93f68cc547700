package tree

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"zkd/netio/jute"
)

func sampleTxns() map[string]Txn {
	hdr := func(t jute.Op) Txn {
		return Txn{Zxid: 0x500000007, Time: 1700000000123, Session: 0x1234, Cxid: 9, Type: t}
	}
	with := func(x Txn, f func(*Txn)) Txn { f(&x); return x }
	acl := []jute.ACL{{Perms: 31, ID: AnyoneID}, {Perms: 1, ID: jute.ID{Scheme: "digest", ID: "u:x"}}}
	multi := with(hdr(jute.OpMulti), func(x *Txn) {
		x.Ops = []Txn{
			{Type: jute.OpCreate, Path: "/m/a", Data: []byte("d"), ACL: acl, Version: 3},
			{Type: jute.OpDelete, Path: "/m/b"},
			{Type: jute.OpSetData, Path: "/m/a", Data: []byte{}, Version: 1},
			{Type: jute.OpCheck, Path: "/m", Version: -1},
			{Type: jute.OpCreateTTL, Path: "/m/t", Data: nil, ACL: acl, Owner: jute.TTLOwner(10), Version: 4},
		}
		for i := range x.Ops {
			x.Ops[i].Zxid, x.Ops[i].Time, x.Ops[i].Session, x.Ops[i].Cxid = x.Zxid, x.Time, x.Session, x.Cxid
		}
	})
	failed := with(hdr(jute.OpMulti), func(x *Txn) {
		x.Ops = []Txn{{Type: jute.OpError, Err: jute.ErrOK}, {Type: jute.OpError, Err: jute.ErrNoNode}, {Type: jute.OpError, Err: jute.ErrRuntimeInconsistency}}
		for i := range x.Ops {
			x.Ops[i].Zxid, x.Ops[i].Time, x.Ops[i].Session, x.Ops[i].Cxid = x.Zxid, x.Time, x.Session, x.Cxid
		}
	})
	return map[string]Txn{
		"create":             with(hdr(jute.OpCreate), func(x *Txn) { x.Path, x.Data, x.ACL, x.Version = "/a", []byte("hello"), acl, 7 }),
		"create2 nil":        with(hdr(jute.OpCreate2), func(x *Txn) { x.Path, x.ACL, x.Owner = "/é", []jute.ACL{}, 0x1234 }),
		"create nil acl":     with(hdr(jute.OpCreate), func(x *Txn) { x.Path, x.Data = "/a", []byte{} }),
		"container":          with(hdr(jute.OpCreateContainer), func(x *Txn) { x.Path, x.Owner, x.ACL = "/c", jute.ContainerEphemeralOwner, acl }),
		"ttl":                with(hdr(jute.OpCreateTTL), func(x *Txn) { x.Path, x.Owner, x.Version = "/t", jute.TTLOwner(jute.TTLMax), -3 }),
		"delete":             with(hdr(jute.OpDelete), func(x *Txn) { x.Path = "/a/b" }),
		"deleteContainer":    with(hdr(jute.OpDeleteContainer), func(x *Txn) { x.Path = "/c" }),
		"setData":            with(hdr(jute.OpSetData), func(x *Txn) { x.Path, x.Data, x.Version = "/a", bytes.Repeat([]byte{0xff}, 300), 1<<31-1 }),
		"setACL":             with(hdr(jute.OpSetACL), func(x *Txn) { x.Path, x.ACL, x.Version = "/a", acl, 2 }),
		"check":              with(hdr(jute.OpCheck), func(x *Txn) { x.Path, x.Version = "/a", 5 }),
		"error":              with(hdr(jute.OpError), func(x *Txn) { x.Err = jute.ErrNodeExists }),
		"createSession":      with(hdr(jute.OpCreateSession), func(x *Txn) { x.Timeout = 30000 }),
		"closeSession":       with(hdr(jute.OpCloseSession), func(x *Txn) { x.Paths = []string{"/e1", "/e2"} }),
		"closeSession nil":   hdr(jute.OpCloseSession),
		"closeSession empty": with(hdr(jute.OpCloseSession), func(x *Txn) { x.Paths = []string{} }),
		"sync":               hdr(jute.OpSync),
		"multi":              multi,
		"multi failed":       failed,
		"multi empty":        with(hdr(jute.OpMulti), func(x *Txn) { x.Ops = []Txn{} }),
	}
}

func encodeTxn(x *Txn) []byte {
	var w jute.Writer
	x.Encode(&w)
	return w.B
}

func TestTxnRoundTrip(t *testing.T) {
	for name, x := range sampleTxns() {
		b := encodeTxn(&x)
		got, err := DecodeTxn(b)
		if err != nil {
			t.Errorf("%s: decode: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, x) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, x)
		}
		if again := encodeTxn(&got); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs", name)
		}
		shared, err := DecodeTxnShared(b)
		if err != nil || !reflect.DeepEqual(shared, x) {
			t.Errorf("%s: DecodeTxnShared: %v\n got %+v\nwant %+v", name, err, shared, x)
		}
		if hint := x.SizeHint(); hint < len(b) {
			t.Errorf("%s: SizeHint %d under the encoding's %d bytes", name, hint, len(b))
		}
		// Every proper prefix fails cleanly.
		for n := 0; n < len(b); n++ {
			if _, err := DecodeTxn(b[:n]); err == nil {
				t.Errorf("%s: prefix of %d/%d bytes decoded", name, n, len(b))
				break
			}
		}
		// So does a trailing byte.
		if _, err := DecodeTxn(append(append([]byte(nil), b...), 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", name)
		}
	}
}

// TestTxnRoundTripPrepared: whatever Prepare makes survives the log.
func TestTxnRoundTripPrepared(t *testing.T) {
	e := newEnv(t)
	e.create("/r", "", 0)
	reqs := []Request{
		createReq(1, "/r/a", "x", jute.ModeEphemeralSequential),
		multiReq(mCreate("/r/b", "", 0), mSetData("/r", "y", -1), mCheck("/r", -1), mDelete("/r/b", -1)),
		multiReq(mCreate("/r/c", "", 0), mDelete("/r/nope", -1)),
		setACLReq("/r", ReadACLUnsafe, -1),
		deleteReq("/r/nope", -1),
		{Session: 1, Op: jute.OpCloseSession},
	}
	for _, r := range reqs {
		x := e.prepOnly(r)
		got, err := DecodeTxn(encodeTxn(&x))
		if err != nil || !reflect.DeepEqual(got, x) {
			t.Errorf("%v: round trip %v\n got %+v\nwant %+v", r.Op, err, got, x)
		}
	}
}

func TestDecodeTxnMalformed(t *testing.T) {
	hdr := func(op jute.Op) []byte {
		var w jute.Writer
		w.Long(1)
		w.Long(2)
		w.Long(3)
		w.Int(4)
		w.Int(int32(op))
		return w.B
	}
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := map[string][]byte{
		"empty":               nil,
		"unknown op":          hdr(jute.Op(77)),
		"read op":             hdr(jute.OpGetData),
		"null path":           cat(hdr(jute.OpDelete), be32(-1)),
		"negative path":       cat(hdr(jute.OpDelete), be32(-2)),
		"long path":           cat(hdr(jute.OpDelete), be32(100), []byte("/a")),
		"null acl scheme":     cat(hdr(jute.OpSetACL), be32(2), []byte("/a"), be32(1), be32(31), be32(-1), be32(0), be32(0)),
		"acl count too big":   cat(hdr(jute.OpSetACL), be32(2), []byte("/a"), be32(1000), be32(0)),
		"acl count negative":  cat(hdr(jute.OpSetACL), be32(2), []byte("/a"), be32(-5), be32(0)),
		"null closing path":   cat(hdr(jute.OpCloseSession), be32(1), be32(-1)),
		"paths count too big": cat(hdr(jute.OpCloseSession), be32(1<<30)),
		"multi negative":      cat(hdr(jute.OpMulti), be32(-1)),
		"multi too many":      cat(hdr(jute.OpMulti), be32(1000), be32(2)),
		"nested multi":        cat(hdr(jute.OpMulti), be32(1), be32(int32(jute.OpMulti)), be32(0)),
		"multi bad sub":       cat(hdr(jute.OpMulti), be32(1), be32(77)),
		"data negative":       cat(hdr(jute.OpSetData), be32(2), []byte("/a"), be32(-7), be32(0)),
		"path not UTF-8":      cat(hdr(jute.OpDelete), be32(2), []byte{'/', 0xe5}),
	}
	for name, b := range cases {
		if x, err := DecodeTxn(b); err != ErrBadTxn {
			t.Errorf("%s: decoded %+v, %v", name, x, err)
		}
	}
}

func FuzzDecodeTxn(f *testing.F) {
	for _, x := range sampleTxns() {
		f.Add(encodeTxn(&x))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeTxn(b)
		shared, serr := DecodeTxnShared(b)
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(x, shared) {
			t.Fatalf("DecodeTxnShared disagrees: %+v %v, DecodeTxn %+v %v", shared, serr, x, err)
		}
		if err != nil {
			return
		}
		if again := encodeTxn(&x); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %x, not %x", x, again, b)
		}
		// A decoded txn must be safe to apply: no panic, whatever it says.
		tr := New()
		tr.Apply(&x, nil)
		tr.Apply(&x, nil)
		if tr.Digest() != tr.computeDigest() {
			t.Fatalf("after %+v: digest %x, a walk gives %x", x, tr.Digest(), tr.computeDigest())
		}
	})
}
