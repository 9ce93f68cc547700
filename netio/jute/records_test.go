package jute

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// unicodePath exercises multi-byte UTF-8 in every string field.
const unicodePath = "/ünïcødé/日本語/🦀"

// sampleStat has every field distinct and several at their extremes, so a
// swapped or skipped field shows up in a round trip.
var sampleStat = Stat{
	Czxid:          0x0000000100000001,
	Mzxid:          0x0000000100000002,
	Ctime:          1700000000000,
	Mtime:          1700000000123,
	Version:        3,
	Cversion:       -1,
	Aversion:       math.MaxInt32,
	EphemeralOwner: 0x0100000000000001,
	DataLength:     1024,
	NumChildren:    2,
	Pzxid:          math.MaxInt64,
}

var worldAnyone = ACL{Perms: PermAll, ID: ID{Scheme: "world", ID: "anyone"}}

// sample is one record value. Encoding rec and decoding into fresh() must
// give rec back, and the decoder must consume exactly the encoding.
type sample struct {
	name  string
	rec   Record
	blank func() Record // the value to decode into; nil: rec's zero value
}

func (s sample) fresh() Record {
	if s.blank != nil {
		return s.blank()
	}
	return reflect.New(reflect.TypeOf(s.rec).Elem()).Interface().(Record)
}

// samples returns new values on every call: MultiRequest.Encode writes to
// its ops, so sharing one table between tests would couple them.
func samples() []sample {
	kb := bytes.Repeat([]byte{0xa5}, 1024)
	withTTL := func() Record { return &CreateRequest{HasTTL: true} }
	two := func() Record { return &SetWatches{Two: true} }
	return []sample{
		{name: "ID", rec: &ID{Scheme: "digest", ID: "bob:hash="}},
		{name: "ID/empty", rec: &ID{}},
		{name: "ID/unicode", rec: &ID{Scheme: "sasl", ID: "ünï@日本"}},
		{name: "ACL", rec: &worldAnyone},
		{name: "ACL/negative-perms", rec: &ACL{Perms: -1, ID: ID{Scheme: "ip", ID: "10.0.0.0/8"}}},
		{name: "Stat", rec: &sampleStat},
		{name: "Stat/zero", rec: &Stat{}},
		{name: "ConnectRequest/java", rec: &ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}},
		{name: "ConnectRequest/resume-readonly", rec: &ConnectRequest{
			LastZxidSeen: 0x500000003, TimeOut: 4000, SessionID: 0x0100000000000001,
			Passwd: []byte("0123456789abcdef"), ReadOnly: true,
		}},
		{name: "ConnectRequest/nil-passwd", rec: &ConnectRequest{ProtocolVersion: 1, TimeOut: -1}},
		{name: "ConnectRequest/empty-passwd", rec: &ConnectRequest{Passwd: []byte{}}},
		{name: "ConnectResponse", rec: &ConnectResponse{
			TimeOut: 30000, SessionID: 0x0100000000000001, Passwd: bytes.Repeat([]byte{1}, 16),
		}},
		{name: "ConnectResponse/readonly", rec: &ConnectResponse{ReadOnly: true, Passwd: []byte{}}},
		{name: "ConnectResponse/nil-passwd", rec: &ConnectResponse{SessionID: -1}},
		{name: "RequestHeader", rec: &RequestHeader{Xid: 1, Type: OpGetData}},
		{name: "RequestHeader/ping", rec: &RequestHeader{Xid: XidPing, Type: OpPing}},
		{name: "RequestHeader/close", rec: &RequestHeader{Xid: math.MaxInt32, Type: OpCloseSession}},
		{name: "ReplyHeader", rec: &ReplyHeader{Xid: 7, Zxid: 0x100000009, Err: ErrOK}},
		{name: "ReplyHeader/event", rec: &ReplyHeader{Xid: XidWatchEvent, Zxid: -1, Err: ErrNoNode}},
		{name: "MultiHeader", rec: &MultiHeader{Type: OpCreate, Done: false, Err: -1}},
		{name: "MultiHeader/done", rec: &MultiHeader{Type: -1, Done: true, Err: -1}},
		{name: "AuthPacket", rec: &AuthPacket{Scheme: "digest", Auth: []byte("bob:secret")}},
		{name: "AuthPacket/nil-auth", rec: &AuthPacket{Type: 1, Scheme: unicodePath}},
		{name: "AuthPacket/empty", rec: &AuthPacket{Auth: []byte{}}},
		{name: "WatcherEvent", rec: &WatcherEvent{Type: EventNodeDataChanged, State: StateSyncConnected, Path: "/a"}},
		{name: "WatcherEvent/none", rec: &WatcherEvent{Type: EventNone, State: StateExpired}},
		{name: "PathRequest", rec: &PathRequest{Path: "/zookeeper/config"}},
		{name: "PathRequest/empty", rec: &PathRequest{}},
		{name: "PathRequest/unicode", rec: &PathRequest{Path: unicodePath}},
		{name: "PathWatchRequest", rec: &PathWatchRequest{Path: "/a", Watch: true}},
		{name: "PathWatchRequest/nowatch", rec: &PathWatchRequest{Path: unicodePath}},
		{name: "PathVersionRequest", rec: &PathVersionRequest{Path: "/a", Version: -1}},
		{name: "PathVersionRequest/max", rec: &PathVersionRequest{Path: "/b", Version: math.MaxInt32}},
		{name: "PathTypeRequest", rec: &PathTypeRequest{Path: "/a", Type: WatcherAny}},
		{name: "PathTypeRequest/addWatch", rec: &PathTypeRequest{Path: unicodePath, Type: AddWatchPersistentRecursive}},
		{name: "CreateRequest", rec: &CreateRequest{
			Path: "/a", Data: []byte("hello"), ACL: []ACL{worldAnyone}, Flags: ModeEphemeralSequential,
		}},
		{name: "CreateRequest/nil", rec: &CreateRequest{Path: unicodePath}},
		{name: "CreateRequest/empty", rec: &CreateRequest{Data: []byte{}, ACL: []ACL{}, Flags: ModeContainer}},
		{name: "CreateRequest/acls", rec: &CreateRequest{Path: "/acl", ACL: []ACL{
			worldAnyone,
			{Perms: PermRead | PermAdmin, ID: ID{Scheme: "digest", ID: "u:h"}},
			{Perms: 0, ID: ID{}},
		}}},
		{name: "CreateRequest/ttl", rec: &CreateRequest{
			Path: "/t", Data: []byte("x"), ACL: []ACL{worldAnyone}, Flags: ModePersistentWithTTL,
			TTL: 1000, HasTTL: true,
		}, blank: withTTL},
		{name: "CreateRequest/ttl-max", rec: &CreateRequest{
			Path: "/t", Flags: ModePersistentSequentialWithTTL, TTL: TTLMax, HasTTL: true,
		}, blank: withTTL},
		{name: "SetDataRequest", rec: &SetDataRequest{Path: "/a", Data: []byte{0, 1, 2}, Version: 4}},
		{name: "SetDataRequest/nil", rec: &SetDataRequest{Path: unicodePath, Version: -1}},
		{name: "SetDataRequest/empty", rec: &SetDataRequest{Data: []byte{}}},
		{name: "SetACLRequest", rec: &SetACLRequest{Path: "/a", ACL: []ACL{worldAnyone}, Version: 2}},
		{name: "SetACLRequest/nil", rec: &SetACLRequest{Path: "/a", Version: -1}},
		{name: "SetACLRequest/empty", rec: &SetACLRequest{Path: unicodePath, ACL: []ACL{}}},
		{name: "SetWatches", rec: &SetWatches{
			RelativeZxid: 0x100000005,
			DataWatches:  []string{"/a", "/b"},
			ExistWatches: []string{unicodePath},
			ChildWatches: []string{},
		}},
		{name: "SetWatches/nil", rec: &SetWatches{}},
		{name: "SetWatches2", rec: &SetWatches{
			RelativeZxid:        -1,
			DataWatches:         []string{"/a"},
			ExistWatches:        nil,
			ChildWatches:        []string{"/c", ""},
			PersistentWatches:   []string{"/p"},
			PersistentRecursive: []string{unicodePath, "/r"},
			Two:                 true,
		}, blank: two},
		{name: "SetWatches2/nil", rec: &SetWatches{Two: true}, blank: two},
		{name: "SetWatches2/empty", rec: &SetWatches{
			DataWatches: []string{}, ExistWatches: []string{}, ChildWatches: []string{},
			PersistentWatches: []string{}, PersistentRecursive: []string{}, Two: true,
		}, blank: two},
		{name: "StatResponse", rec: &StatResponse{Stat: sampleStat}},
		{name: "PathResponse", rec: &PathResponse{Path: "/a0000000001"}},
		{name: "PathResponse/unicode", rec: &PathResponse{Path: unicodePath}},
		{name: "Create2Response", rec: &Create2Response{Path: "/a", Stat: sampleStat}},
		{name: "GetDataResponse", rec: &GetDataResponse{Data: []byte("v"), Stat: sampleStat}},
		{name: "GetDataResponse/nil", rec: &GetDataResponse{}},
		{name: "GetDataResponse/empty", rec: &GetDataResponse{Data: []byte{}}},
		{name: "GetDataResponse/1KB", rec: &GetDataResponse{Data: kb, Stat: sampleStat}},
		{name: "StringsResponse", rec: &StringsResponse{Strings: []string{"a", "b", unicodePath}}},
		{name: "StringsResponse/nil", rec: &StringsResponse{}},
		{name: "StringsResponse/empty", rec: &StringsResponse{Strings: []string{}}},
		{name: "GetChildren2Response", rec: &GetChildren2Response{Children: []string{"x", "y"}, Stat: sampleStat}},
		{name: "GetChildren2Response/nil", rec: &GetChildren2Response{}},
		{name: "GetChildren2Response/empty", rec: &GetChildren2Response{Children: []string{}}},
		{name: "GetACLResponse", rec: &GetACLResponse{ACL: []ACL{worldAnyone, {Perms: PermRead, ID: ID{Scheme: "ip", ID: "127.0.0.1"}}}, Stat: sampleStat}},
		{name: "GetACLResponse/nil", rec: &GetACLResponse{}},
		{name: "GetACLResponse/empty", rec: &GetACLResponse{ACL: []ACL{}}},
		{name: "IntResponse", rec: &IntResponse{N: 42}},
		{name: "IntResponse/negative", rec: &IntResponse{N: int32(ErrNoNode)}},
		{name: "WhoAmIResponse", rec: &WhoAmIResponse{Infos: []ClientInfo{
			{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "bøb"},
		}}},
		{name: "WhoAmIResponse/nil", rec: &WhoAmIResponse{}},
		{name: "WhoAmIResponse/empty", rec: &WhoAmIResponse{Infos: []ClientInfo{}}},
		{name: "WhoAmIResponse/empty-strings", rec: &WhoAmIResponse{Infos: []ClientInfo{{}}}},
		{name: "MultiRequest/write", rec: &MultiRequest{Ops: []MultiOp{
			{Op: OpCreate, Create: CreateRequest{Path: "/c", Data: []byte("d"), ACL: []ACL{worldAnyone}, Flags: ModeEphemeral}},
			{Op: OpCreate2, Create: CreateRequest{Path: "/c2", ACL: []ACL{}, Flags: ModePersistentSequential}},
			{Op: OpCreateContainer, Create: CreateRequest{Path: "/cc", Data: []byte{}, Flags: ModeContainer}},
			{Op: OpCreateTTL, Create: CreateRequest{Path: "/ttl", ACL: []ACL{worldAnyone}, Flags: ModePersistentWithTTL, TTL: 60000, HasTTL: true}},
			{Op: OpDelete, Delete: PathVersionRequest{Path: "/d", Version: -1}},
			{Op: OpSetData, SetData: SetDataRequest{Path: unicodePath, Data: []byte("new"), Version: 3}},
			{Op: OpCheck, Delete: PathVersionRequest{Path: "/k", Version: 9}},
		}}},
		{name: "MultiRequest/read", rec: &MultiRequest{Ops: []MultiOp{
			{Op: OpGetData, Read: PathWatchRequest{Path: "/a"}},
			{Op: OpGetChildren, Read: PathWatchRequest{Path: unicodePath}},
		}}},
		{name: "MultiRequest/nil", rec: &MultiRequest{}},
		{name: "MultiResponse/write", rec: &MultiResponse{Results: []MultiResult{
			{Op: OpCreate, Path: "/c"},
			{Op: OpCreate2, Path: "/c20000000001", Stat: sampleStat},
			{Op: OpSetData, Stat: sampleStat},
			{Op: OpDelete},
			{Op: OpCheck},
		}}},
		{name: "MultiResponse/read", rec: &MultiResponse{Results: []MultiResult{
			{Op: OpGetData, Data: []byte("v"), Stat: sampleStat},
			{Op: OpGetData, Data: nil},
			{Op: OpGetData, Data: []byte{}},
			{Op: OpGetChildren, Children: []string{"a", unicodePath}},
			{Op: OpGetChildren, Children: []string{}},
			{Op: OpGetChildren},
			{Op: OpError, Err: ErrNoNode},
		}}},
		{name: "MultiResponse/error", rec: &MultiResponse{Results: []MultiResult{
			{Op: OpError, Err: ErrOK},
			{Op: OpError, Err: ErrBadVersion},
			{Op: OpError, Err: ErrRuntimeInconsistency},
		}}},
		{name: "MultiResponse/nil", rec: &MultiResponse{}},
	}
}

// recordTypes lists every record type of records.go and multi.go; the
// sample table must cover each one.
var recordTypes = []Record{
	&ID{}, &ACL{}, &Stat{}, &ConnectRequest{}, &ConnectResponse{}, &RequestHeader{},
	&ReplyHeader{}, &MultiHeader{}, &AuthPacket{}, &WatcherEvent{}, &PathRequest{},
	&PathWatchRequest{}, &PathVersionRequest{}, &PathTypeRequest{}, &CreateRequest{},
	&SetDataRequest{}, &SetACLRequest{}, &SetWatches{}, &StatResponse{}, &PathResponse{},
	&Create2Response{}, &GetDataResponse{}, &StringsResponse{}, &GetChildren2Response{},
	&GetACLResponse{}, &IntResponse{}, &WhoAmIResponse{}, &MultiRequest{}, &MultiResponse{},
}

func TestSamplesCoverEveryRecord(t *testing.T) {
	seen := map[reflect.Type]bool{}
	for _, s := range samples() {
		seen[reflect.TypeOf(s.rec)] = true
	}
	for _, r := range recordTypes {
		if !seen[reflect.TypeOf(r)] {
			t.Errorf("no round-trip sample for %T", r)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			enc := Marshal(s.rec)
			got := s.fresh()
			r := NewReader(enc)
			got.Decode(r)
			if err := r.Err(); err != nil {
				t.Fatalf("decode %x: %v", enc, err)
			}
			if r.Len() != 0 {
				t.Errorf("decode left %d of %d bytes unread", r.Len(), len(enc))
			}
			if !reflect.DeepEqual(got, s.rec) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, s.rec)
			}
			if again := Marshal(got); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n got %x\nwant %x", again, enc)
			}
		})
	}
}

// TestDecodeIntoUsedRecord checks that decoding overwrites every field a
// previous decode set: servers reuse records across requests.
func TestDecodeIntoUsedRecord(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			enc := Marshal(s.rec)
			got := s.fresh()
			// Fill got with another sample of the same type first.
			for _, other := range samples() {
				if other.name != s.name && reflect.TypeOf(other.rec) == reflect.TypeOf(s.rec) &&
					reflect.DeepEqual(other.fresh(), s.fresh()) {
					if err := Unmarshal(Marshal(other.rec), got); err != nil {
						t.Fatalf("decode %s: %v", other.name, err)
					}
					break
				}
			}
			if err := Unmarshal(enc, got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, s.rec) && !bothEmptyMulti(got, s.rec) {
				t.Errorf("decode into used record:\n got %#v\nwant %#v", got, s.rec)
			}
		})
	}
}

// bothEmptyMulti reports whether a and b are multis with no ops or results:
// Decode truncates the old slice to length 0, which keeps it non-nil.
func bothEmptyMulti(a, b Record) bool {
	switch a := a.(type) {
	case *MultiRequest:
		b, ok := b.(*MultiRequest)
		return ok && len(a.Ops) == 0 && len(b.Ops) == 0
	case *MultiResponse:
		b, ok := b.(*MultiResponse)
		return ok && len(a.Results) == 0 && len(b.Results) == 0
	}
	return false
}

// unhex decodes hex written with spaces, line breaks and #-comments for
// readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var digits strings.Builder
	for line := range strings.Lines(s) {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// TestGolden compares encodings with bytes derived by hand from
// zookeeper.jute (and, for the multis, MultiOperationRecord.java and
// MultiResponse.java): ints and longs big-endian, ustring and buffer as
// int32 length then bytes, boolean as one byte.
func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		recs  []Record // encoded back to back
		blank []Record // decoded back to back; nil: zero values of recs
		hex   string
	}{{
		name: "ConnectRequest/java-client",
		recs: []Record{&ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}},
		hex: `00000000         # protocolVersion 0
		      0000000000000000 # lastZxidSeen 0
		      00007530         # timeOut 30000
		      0000000000000000 # sessionId 0
		      00000010 00000000000000000000000000000000 # passwd: 16 zero bytes
		      00               # readOnly false`,
	}, {
		name: "ConnectResponse",
		recs: []Record{&ConnectResponse{
			TimeOut: 30000, SessionID: 0x0100000000000001, Passwd: bytes.Repeat([]byte{0xab}, 16),
		}},
		hex: `00000000 00007530 0100000000000001
		      00000010 abababababababababababababababab 00`,
	}, {
		name: "RequestHeader+GetData",
		recs: []Record{&RequestHeader{Xid: 1, Type: OpGetData}, &PathWatchRequest{Path: "/a", Watch: true}},
		hex:  `00000001 00000004   00000002 2f61 01`,
	}, {
		name: "ReplyHeader+WatcherEvent",
		recs: []Record{
			&ReplyHeader{Xid: XidWatchEvent, Zxid: -1, Err: ErrOK},
			&WatcherEvent{Type: EventNodeDataChanged, State: StateSyncConnected, Path: "/a"},
		},
		hex: `ffffffff ffffffffffffffff 00000000   00000003 00000003 00000002 2f61`,
	}, {
		name: "ReplyHeader+error",
		recs: []Record{&ReplyHeader{Xid: 5, Zxid: 0x10000000a, Err: ErrNoNode}},
		hex:  `00000005 000000010000000a ffffff9b`,
	}, {
		name: "AuthPacket",
		recs: []Record{&RequestHeader{Xid: XidAuth, Type: OpAuth}, &AuthPacket{Scheme: "digest", Auth: []byte("u:p")}},
		hex:  `fffffffc 00000064   00000000 00000006 646967657374 00000003 753a70`,
	}, {
		name: "CreateRequest/ttl",
		recs: []Record{&CreateRequest{
			Path: "/t", Data: []byte("x"), ACL: []ACL{worldAnyone},
			Flags: ModePersistentWithTTL, TTL: 1000, HasTTL: true,
		}},
		blank: []Record{&CreateRequest{HasTTL: true}},
		hex: `00000002 2f74          # path "/t"
		      00000001 78            # data "x"
		      00000001               # one ACL
		      0000001f               # perms ALL
		      00000005 776f726c64    # "world"
		      00000006 616e796f6e65  # "anyone"
		      00000005               # flags PERSISTENT_WITH_TTL
		      00000000000003e8       # ttl 1000`,
	}, {
		name: "CreateRequest/null-data-acl",
		recs: []Record{&CreateRequest{Path: "/n"}},
		hex:  `00000002 2f6e ffffffff ffffffff 00000000`,
	}, {
		name: "SetWatches2",
		recs: []Record{&SetWatches{
			RelativeZxid: 7, DataWatches: []string{"/a"}, ExistWatches: []string{},
			PersistentRecursive: []string{"/r", "/s"}, Two: true,
		}},
		blank: []Record{&SetWatches{Two: true}},
		hex: `0000000000000007 00000001 00000002 2f61   00000000  ffffffff
		      ffffffff   00000002 00000002 2f72 00000002 2f73`,
	}, {
		name: "Stat",
		recs: []Record{&Stat{Czxid: 1, Mzxid: 2, Ctime: 3, Mtime: 4, Version: 5, Cversion: 6,
			Aversion: 7, EphemeralOwner: 8, DataLength: 9, NumChildren: 10, Pzxid: 11}},
		hex: `0000000000000001 0000000000000002 0000000000000003 0000000000000004
		      00000005 00000006 00000007 0000000000000008 00000009 0000000a 000000000000000b`,
	}, {
		name: "WhoAmIResponse",
		recs: []Record{&WhoAmIResponse{Infos: []ClientInfo{{AuthScheme: "ip", User: "::1"}}}},
		hex:  `00000001 00000002 6970 00000003 3a3a31`,
	}, {
		name: "MultiRequest/check+delete",
		recs: []Record{&MultiRequest{Ops: []MultiOp{
			{Op: OpCheck, Delete: PathVersionRequest{Path: "/a", Version: 3}},
			{Op: OpDelete, Delete: PathVersionRequest{Path: "/a", Version: -1}},
		}}},
		hex: `0000000d 00 ffffffff   00000002 2f61 00000003
		      00000002 00 ffffffff   00000002 2f61 ffffffff
		      ffffffff 01 ffffffff`,
	}, {
		name: "MultiResponse/create+error",
		recs: []Record{&MultiResponse{Results: []MultiResult{
			{Op: OpCreate, Path: "/a"},
			{Op: OpError, Err: ErrNoNode},
		}}},
		hex: `00000001 00 00000000   00000002 2f61
		      ffffffff 00 ffffff9b   ffffff9b
		      ffffffff 01 ffffffff`,
	}, {
		name: "MultiResponse/empty",
		recs: []Record{&MultiResponse{}},
		hex:  `ffffffff 01 ffffffff`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			var w Writer
			for _, r := range tt.recs {
				r.Encode(&w)
			}
			if !bytes.Equal(w.B, want) {
				t.Fatalf("encode:\n got %x\nwant %x", w.B, want)
			}
			r := NewReader(want)
			for i, rec := range tt.recs {
				var got Record
				if tt.blank != nil {
					got = tt.blank[i]
				} else {
					got = reflect.New(reflect.TypeOf(rec).Elem()).Interface().(Record)
				}
				got.Decode(r)
				if !reflect.DeepEqual(got, rec) {
					t.Errorf("decode record %d:\n got %#v\nwant %#v", i, got, rec)
				}
			}
			if r.Err() != nil || r.Len() != 0 {
				t.Errorf("decode: err %v, %d bytes left", r.Err(), r.Len())
			}
		})
	}
}

// TestConnectRequestFrame checks the whole first packet of a Java client:
// a 4-byte length of 45, then the body.
func TestConnectRequestFrame(t *testing.T) {
	var w Writer
	at := w.BeginFrame()
	(&ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}).Encode(&w)
	w.EndFrame(at)
	if len(w.B) != 4+45 {
		t.Fatalf("frame is %d bytes, want 49", len(w.B))
	}
	if got := w.B[:4]; !bytes.Equal(got, []byte{0, 0, 0, 45}) {
		t.Errorf("length prefix %x, want 0000002d", got)
	}
}

// TestOptionalReadOnly: clients before 3.4 end the connect request (and
// servers the response) after passwd.
func TestOptionalReadOnly(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		hex  string
		want Record
	}{{
		name: "ConnectRequest/no-readonly",
		rec:  &ConnectRequest{},
		hex:  `00000000 0000000000000005 00002710 0000000000000009 00000001 ff`,
		want: &ConnectRequest{LastZxidSeen: 5, TimeOut: 10000, SessionID: 9, Passwd: []byte{0xff}},
	}, {
		name: "ConnectRequest/readonly",
		rec:  &ConnectRequest{},
		hex:  `00000000 0000000000000005 00002710 0000000000000009 ffffffff 01`,
		want: &ConnectRequest{LastZxidSeen: 5, TimeOut: 10000, SessionID: 9, ReadOnly: true},
	}, {
		name: "ConnectResponse/no-readonly",
		rec:  &ConnectResponse{},
		hex:  `00000000 00002710 0000000000000009 00000000`,
		want: &ConnectResponse{TimeOut: 10000, SessionID: 9, Passwd: []byte{}},
	}, {
		name: "ConnectResponse/readonly",
		rec:  &ConnectResponse{},
		hex:  `00000000 00002710 0000000000000009 00000000 01`,
		want: &ConnectResponse{TimeOut: 10000, SessionID: 9, Passwd: []byte{}, ReadOnly: true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Unmarshal(unhex(t, tt.hex), tt.rec); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(tt.rec, tt.want) {
				t.Errorf("got %#v, want %#v", tt.rec, tt.want)
			}
		})
	}
}

// TestMultiRequestTTLFromOp: the op type, not Create.HasTTL, decides
// whether a multi create carries a TTL on the wire.
func TestMultiRequestTTLFromOp(t *testing.T) {
	tests := []struct {
		name    string
		op      MultiOp
		wantTTL bool
	}{
		{"createTTL-without-HasTTL", MultiOp{Op: OpCreateTTL, Create: CreateRequest{Path: "/t", TTL: 5}}, true},
		{"create-with-HasTTL", MultiOp{Op: OpCreate, Create: CreateRequest{Path: "/t", TTL: 5, HasTTL: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := Marshal(&MultiRequest{Ops: []MultiOp{tt.op}})
			// header 9 + path 6 + null data 4 + null acl 4 + flags 4 (+ ttl 8) + done 9
			want := 9 + 6 + 4 + 4 + 4 + 9
			if tt.wantTTL {
				want += 8
			}
			if len(enc) != want {
				t.Fatalf("encoding is %d bytes, want %d: %x", len(enc), want, enc)
			}
			var got MultiRequest
			if err := Unmarshal(enc, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got.Ops) != 1 || got.Ops[0].Create.HasTTL != tt.wantTTL {
				t.Fatalf("decoded %#v", got.Ops)
			}
			if tt.wantTTL && got.Ops[0].Create.TTL != 5 {
				t.Errorf("TTL %d, want 5", got.Ops[0].Create.TTL)
			}
		})
	}
}

func TestMultiOpPath(t *testing.T) {
	var req *MultiRequest
	for _, s := range samples() {
		if s.name == "MultiRequest/write" {
			req = s.rec.(*MultiRequest)
		}
	}
	want := []string{"/c", "/c2", "/cc", "/ttl", "/d", unicodePath, "/k"}
	for i := range req.Ops {
		if got := req.Ops[i].Path(); got != want[i] {
			t.Errorf("op %d (%v): Path() = %q, want %q", i, req.Ops[i].Op, got, want[i])
		}
	}
	read := MultiOp{Op: OpGetChildren, Read: PathWatchRequest{Path: "/r"}}
	if got := read.Path(); got != "/r" {
		t.Errorf("getChildren Path() = %q, want /r", got)
	}
}

func TestMultiUnsupportedOp(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		hex  string
	}{
		{"request/exists", &MultiRequest{}, `00000003 00 ffffffff 00000002 2f61 00`},
		{"request/multi", &MultiRequest{}, `0000000e 00 ffffffff`},
		{"request/after-valid-op", &MultiRequest{}, `00000002 00 ffffffff 00000002 2f61 ffffffff   00000007 00 ffffffff`},
		{"request/error-type", &MultiRequest{}, `ffffffff 00 ffffffff`},
		{"response/exists", &MultiResponse{}, `00000003 00 00000000`},
		{"response/createSession", &MultiResponse{}, `fffffff6 00 00000000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unmarshal(unhex(t, tt.hex), tt.rec)
			if !errors.Is(err, ErrUnsupportedOp) {
				t.Fatalf("err = %v, want ErrUnsupportedOp", err)
			}
			if err.Error() != "jute: op not allowed in multi" {
				t.Errorf("message %q", err.Error())
			}
		})
	}
}

// TestMultiEndsAtDone: Done ends the sequence whatever the header's type,
// as in MultiOperationRecord.deserialize; bytes after it are left unread.
func TestMultiEndsAtDone(t *testing.T) {
	b := unhex(t, `00000002 00 ffffffff 00000002 2f61 ffffffff   00000005 01 00000000   dead`)
	r := NewReader(b)
	var m MultiRequest
	m.Decode(r)
	if r.Err() != nil {
		t.Fatalf("decode: %v", r.Err())
	}
	want := []MultiOp{{Op: OpDelete, Delete: PathVersionRequest{Path: "/a", Version: -1}}}
	if !reflect.DeepEqual(m.Ops, want) {
		t.Errorf("ops %#v, want %#v", m.Ops, want)
	}
	if !bytes.Equal(r.Rest(), []byte{0xde, 0xad}) {
		t.Errorf("rest %x, want dead", r.Rest())
	}
}

// TestMultiReadJavaWire decodes a multiRead as the Java client sends it:
// MultiOperationRecord.serialize writes op.toRequestRecord(), which for
// getData and getChildren is GetDataRequest/GetChildrenRequest(path,
// watch=false), so each op body is a path AND a boolean.
func TestMultiReadJavaWire(t *testing.T) {
	java := unhex(t, `00000004 00 ffffffff   00000002 2f61 00
	                  00000008 00 ffffffff   00000002 2f62 00
	                  ffffffff 01 ffffffff`)
	want := &MultiRequest{Ops: []MultiOp{
		{Op: OpGetData, Read: PathWatchRequest{Path: "/a"}},
		{Op: OpGetChildren, Read: PathWatchRequest{Path: "/b"}},
	}}
	var got MultiRequest
	if err := Unmarshal(java, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("decode:\n got %#v\nwant %#v", &got, want)
	}
	if enc := Marshal(want); !bytes.Equal(enc, java) {
		t.Errorf("encode:\n got %x\nwant %x", enc, java)
	}
}

// TestMultiResponseSuccessHeaderErr: Java ignores the header's err for a
// successful result (MultiResponse.deserialize), and Encode always writes
// 0 there, so Decode must not keep it: otherwise decode→encode→decode
// changes the record. Found by FuzzMultiResponse.
func TestMultiResponseSuccessHeaderErr(t *testing.T) {
	b := unhex(t, `00000002 00 ffffff9b   ffffffff 01 ffffffff`)
	var got MultiResponse
	if err := Unmarshal(b, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := []MultiResult{{Op: OpDelete}}
	if !reflect.DeepEqual(got.Results, want) {
		t.Errorf("results %#v, want %#v", got.Results, want)
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{OpNotification, "notification"},
		{OpCreate, "create"},
		{OpGetData, "getData"},
		{OpGetChildren2, "getChildren2"},
		{OpMulti, "multi"},
		{OpCreateTTL, "createTTL"},
		{OpMultiRead, "multiRead"},
		{OpSetWatches2, "setWatches2"},
		{OpWhoAmI, "whoAmI"},
		{OpCreateSession, "createSession"},
		{OpCloseSession, "closeSession"},
		{OpError, "error"},
		{Op(10), "op(10)"},
		{Op(999), "op(999)"},
		{Op(-99), "op(-99)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.op.String(); got != tt.want {
				t.Errorf("Op(%d).String() = %q, want %q", int32(tt.op), got, tt.want)
			}
		})
	}
}

func TestErrString(t *testing.T) {
	tests := []struct {
		err       Err
		want      string
		wantError string
	}{
		{ErrOK, "OK", "zookeeper: OK"},
		{ErrSystemError, "SystemError", "zookeeper: SystemError"},
		{ErrNoNode, "NoNode", "zookeeper: NoNode"},
		{ErrNodeExists, "NodeExists", "zookeeper: NodeExists"},
		{ErrBadVersion, "BadVersion", "zookeeper: BadVersion"},
		{ErrSessionExpired, "SessionExpired", "zookeeper: SessionExpired"},
		{ErrSessionClosedRequireSASL, "SessionClosedRequireSasl", "zookeeper: SessionClosedRequireSasl"},
		{ErrThrottled, "Throttled", "zookeeper: Throttled"},
		{Err(-126), "err(-126)", "zookeeper: err(-126)"},
		{Err(1), "err(1)", "zookeeper: err(1)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			var err error = tt.err
			if got := err.Error(); got != tt.wantError {
				t.Errorf("Error() = %q, want %q", got, tt.wantError)
			}
			var as Err
			if !errors.As(err, &as) || as != tt.err {
				t.Errorf("errors.As gave %v", as)
			}
		})
	}
}

// TestNamesUnique guards the name tables against copy-paste slips.
func TestNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for op, name := range opNames {
		if seen[name] {
			t.Errorf("op name %q used twice", name)
		}
		seen[name] = true
		if strings.HasPrefix(name, "op(") || name == "" {
			t.Errorf("Op(%d) has name %q", op, name)
		}
	}
	seen = map[string]bool{}
	for e, name := range errNames {
		if seen[name] {
			t.Errorf("err name %q used twice", name)
		}
		seen[name] = true
		if strings.HasPrefix(name, "err(") || name == "" {
			t.Errorf("Err(%d) has name %q", e, name)
		}
	}
}

func TestEphemeralOwner(t *testing.T) {
	u := func(v uint64) int64 { return int64(v) }
	tests := []struct {
		name      string
		owner     int64
		ttl       bool
		ttlMillis int64
		ephemeral bool
	}{
		{name: "persistent", owner: 0},
		{name: "container", owner: math.MinInt64},
		{name: "session", owner: 0x0100000000000001, ephemeral: true},
		{name: "session-server-fe", owner: u(0xfe00000000000001), ephemeral: true},
		{name: "session-sign-bit", owner: u(0x8000000000000001), ephemeral: true},
		{name: "session-server-0", owner: 1, ephemeral: true},
		{name: "ttl-1000", owner: u(0xff000000000003e8), ttl: true, ttlMillis: 1000},
		{name: "ttl-0", owner: u(0xff00000000000000), ttl: true, ttlMillis: 0},
		{name: "ttl-max", owner: u(0xff0000ffffffffff), ttl: true, ttlMillis: TTLMax},
		{name: "extended-reserved-bits", owner: u(0xff00010000000001)},
		{name: "minus-one", owner: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTTLOwner(tt.owner); got != tt.ttl {
				t.Errorf("IsTTLOwner(%#x) = %v, want %v", uint64(tt.owner), got, tt.ttl)
			}
			if got := IsEphemeralOwner(tt.owner); got != tt.ephemeral {
				t.Errorf("IsEphemeralOwner(%#x) = %v, want %v", uint64(tt.owner), got, tt.ephemeral)
			}
			if tt.ttl {
				if got := TTLOf(tt.owner); got != tt.ttlMillis {
					t.Errorf("TTLOf(%#x) = %d, want %d", uint64(tt.owner), got, tt.ttlMillis)
				}
				if got := TTLOwner(tt.ttlMillis); got != tt.owner {
					t.Errorf("TTLOwner(%d) = %#x, want %#x", tt.ttlMillis, uint64(got), uint64(tt.owner))
				}
			}
		})
	}
	if ContainerEphemeralOwner != math.MinInt64 {
		t.Errorf("ContainerEphemeralOwner = %d, want math.MinInt64", ContainerEphemeralOwner)
	}
	if TTLOwner(1000) != u(0xff000000000003e8) {
		t.Errorf("TTLOwner(1000) = %#x", uint64(TTLOwner(1000)))
	}
}
