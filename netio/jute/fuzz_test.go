package jute

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Every decoder has a fuzz target. Each checks that decoding arbitrary
// bytes never panics, fails only with the package's errors, and that a
// record that decoded is stable: encode it, decode that, and the two
// records and the two encodings are equal.
//
// Seeds are the round-trip samples of records_test.go (f.Add) plus the
// corpus in testdata/fuzz/<FuzzName>/. Run one with, for example:
//
//	go test -run='^$' -fuzz='^FuzzMultiRequest$' -fuzztime=30s ./netio/jute/

// checkRoundTrip is the property every target checks.
func checkRoundTrip(t *testing.T, fresh func() Record, data []byte) {
	first := fresh()
	if err := Unmarshal(data, first); err != nil {
		if !errors.Is(err, ErrShort) && !errors.Is(err, ErrNegativeLength) && !errors.Is(err, ErrUnsupportedOp) {
			t.Fatalf("decode %x: unexpected error %v", data, err)
		}
		return
	}
	enc := Marshal(first)
	second := fresh()
	r := NewReader(enc)
	second.Decode(r)
	if err := r.Err(); err != nil {
		t.Fatalf("decode %x: ok, but its re-encoding %x: %v", data, enc, err)
	}
	if r.Len() != 0 {
		t.Fatalf("re-encoding %x: %d bytes left unread", enc, r.Len())
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("decode→encode→decode changed the record:\ninput %x\nfirst  %#v\nsecond %#v", data, first, second)
	}
	if again := Marshal(second); !bytes.Equal(again, enc) {
		t.Fatalf("encoding not stable:\nfirst  %x\nsecond %x", enc, again)
	}
}

// seeds adds the encodings of every sample for which keep returns true.
func seeds(keep func(s sample) bool, add func(s sample, enc []byte)) {
	for _, s := range samples() {
		if keep(s) {
			add(s, Marshal(s.rec))
		}
	}
}

// fuzzRecord is the target for a record with no decode-time flags.
func fuzzRecord[T any, P interface {
	*T
	Record
}](f *testing.F) {
	typ := reflect.TypeFor[P]()
	seeds(func(s sample) bool { return reflect.TypeOf(s.rec) == typ },
		func(_ sample, enc []byte) { f.Add(enc) })
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, func() Record { return P(new(T)) }, data)
	})
}

func FuzzID(f *testing.F)                   { fuzzRecord[ID](f) }
func FuzzACL(f *testing.F)                  { fuzzRecord[ACL](f) }
func FuzzStat(f *testing.F)                 { fuzzRecord[Stat](f) }
func FuzzConnectRequest(f *testing.F)       { fuzzRecord[ConnectRequest](f) }
func FuzzConnectResponse(f *testing.F)      { fuzzRecord[ConnectResponse](f) }
func FuzzRequestHeader(f *testing.F)        { fuzzRecord[RequestHeader](f) }
func FuzzReplyHeader(f *testing.F)          { fuzzRecord[ReplyHeader](f) }
func FuzzMultiHeader(f *testing.F)          { fuzzRecord[MultiHeader](f) }
func FuzzAuthPacket(f *testing.F)           { fuzzRecord[AuthPacket](f) }
func FuzzWatcherEvent(f *testing.F)         { fuzzRecord[WatcherEvent](f) }
func FuzzPathRequest(f *testing.F)          { fuzzRecord[PathRequest](f) }
func FuzzPathWatchRequest(f *testing.F)     { fuzzRecord[PathWatchRequest](f) }
func FuzzPathVersionRequest(f *testing.F)   { fuzzRecord[PathVersionRequest](f) }
func FuzzPathTypeRequest(f *testing.F)      { fuzzRecord[PathTypeRequest](f) }
func FuzzSetDataRequest(f *testing.F)       { fuzzRecord[SetDataRequest](f) }
func FuzzSetACLRequest(f *testing.F)        { fuzzRecord[SetACLRequest](f) }
func FuzzStatResponse(f *testing.F)         { fuzzRecord[StatResponse](f) }
func FuzzPathResponse(f *testing.F)         { fuzzRecord[PathResponse](f) }
func FuzzCreate2Response(f *testing.F)      { fuzzRecord[Create2Response](f) }
func FuzzGetDataResponse(f *testing.F)      { fuzzRecord[GetDataResponse](f) }
func FuzzStringsResponse(f *testing.F)      { fuzzRecord[StringsResponse](f) }
func FuzzGetChildren2Response(f *testing.F) { fuzzRecord[GetChildren2Response](f) }
func FuzzGetACLResponse(f *testing.F)       { fuzzRecord[GetACLResponse](f) }
func FuzzIntResponse(f *testing.F)          { fuzzRecord[IntResponse](f) }
func FuzzWhoAmIResponse(f *testing.F)       { fuzzRecord[WhoAmIResponse](f) }
func FuzzMultiRequest(f *testing.F)         { fuzzRecord[MultiRequest](f) }
func FuzzMultiResponse(f *testing.F)        { fuzzRecord[MultiResponse](f) }

// FuzzCreateRequest covers create (hasTTL false) and createTTL (true).
func FuzzCreateRequest(f *testing.F) {
	seeds(func(s sample) bool { _, ok := s.rec.(*CreateRequest); return ok },
		func(s sample, enc []byte) {
			f.Add(s.rec.(*CreateRequest).HasTTL, enc)
			// The other flag's reader sees too few or too many bytes.
			f.Add(!s.rec.(*CreateRequest).HasTTL, enc)
		})
	f.Fuzz(func(t *testing.T, hasTTL bool, data []byte) {
		checkRoundTrip(t, func() Record { return &CreateRequest{HasTTL: hasTTL} }, data)
	})
}

// FuzzSetWatches covers setWatches (two false) and setWatches2 (true).
func FuzzSetWatches(f *testing.F) {
	seeds(func(s sample) bool { _, ok := s.rec.(*SetWatches); return ok },
		func(s sample, enc []byte) {
			f.Add(s.rec.(*SetWatches).Two, enc)
			f.Add(!s.rec.(*SetWatches).Two, enc)
		})
	f.Fuzz(func(t *testing.T, two bool, data []byte) {
		checkRoundTrip(t, func() Record { return &SetWatches{Two: two} }, data)
	})
}

// FuzzReader drives the primitives directly: each byte of prog picks the
// next read, data is the frame. Errors must stick and the offset must
// never move backwards or past the end.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6}, unhex(f, `00000001 0000000000000002 01 00000001 61 ffffffff 00000000 ffffffff`))
	f.Add([]byte{3, 3, 0}, unhex(f, `fffffffe 7fffffff 00000001`))
	f.Fuzz(func(t *testing.T, prog, data []byte) {
		r := NewReader(data)
		var firstErr error
		for _, op := range prog {
			before := r.Len()
			switch op % 7 {
			case 0:
				r.Int()
			case 1:
				r.Long()
			case 2:
				r.Bool()
			case 3:
				_ = r.String()
			case 4:
				r.Buffer()
			case 5:
				r.Strings()
			case 6:
				r.ACLs()
			}
			if r.Len() > before || r.Len() < 0 || len(r.Rest()) != r.Len() {
				t.Fatalf("op %d: Len went from %d to %d", op%7, before, r.Len())
			}
			if firstErr == nil {
				firstErr = r.Err()
			} else if r.Err() != firstErr {
				t.Fatalf("err changed from %v to %v", firstErr, r.Err())
			}
			if firstErr != nil && r.Len() != 0 {
				t.Fatalf("%d bytes left after error %v", r.Len(), firstErr)
			}
		}
	})
}
