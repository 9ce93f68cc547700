package jute

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
)

func TestWriterLayout(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer)
		hex   string
	}{
		{"int/0", func(w *Writer) { w.Int(0) }, `00000000`},
		{"int/1", func(w *Writer) { w.Int(1) }, `00000001`},
		{"int/-1", func(w *Writer) { w.Int(-1) }, `ffffffff`},
		{"int/order", func(w *Writer) { w.Int(0x01020304) }, `01020304`},
		{"int/min", func(w *Writer) { w.Int(math.MinInt32) }, `80000000`},
		{"int/max", func(w *Writer) { w.Int(math.MaxInt32) }, `7fffffff`},
		{"long/0", func(w *Writer) { w.Long(0) }, `0000000000000000`},
		{"long/order", func(w *Writer) { w.Long(0x0102030405060708) }, `0102030405060708`},
		{"long/-2", func(w *Writer) { w.Long(-2) }, `fffffffffffffffe`},
		{"long/min", func(w *Writer) { w.Long(math.MinInt64) }, `8000000000000000`},
		{"bool/false", func(w *Writer) { w.Bool(false) }, `00`},
		{"bool/true", func(w *Writer) { w.Bool(true) }, `01`},
		{"string/empty", func(w *Writer) { w.String("") }, `00000000`},
		{"string/ascii", func(w *Writer) { w.String("ab") }, `00000002 6162`},
		{"string/utf8", func(w *Writer) { w.String("é🦀") }, `00000006 c3a9 f09fa680`},
		{"buffer/nil", func(w *Writer) { w.Buffer(nil) }, `ffffffff`},
		{"buffer/empty", func(w *Writer) { w.Buffer([]byte{}) }, `00000000`},
		{"buffer/bytes", func(w *Writer) { w.Buffer([]byte{1, 2, 0xff}) }, `00000003 0102ff`},
		{"strings/nil", func(w *Writer) { w.Strings(nil) }, `ffffffff`},
		{"strings/empty", func(w *Writer) { w.Strings([]string{}) }, `00000000`},
		{"strings/two", func(w *Writer) { w.Strings([]string{"a", ""}) }, `00000002 00000001 61 00000000`},
		{"acls/nil", func(w *Writer) { w.ACLs(nil) }, `ffffffff`},
		{"acls/empty", func(w *Writer) { w.ACLs([]ACL{}) }, `00000000`},
		{"acls/world-anyone", func(w *Writer) { w.ACLs([]ACL{worldAnyone}) },
			`00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65`},
		{"sequence", func(w *Writer) { w.Int(1); w.Bool(true); w.Long(2); w.String("x") },
			`00000001 01 0000000000000002 00000001 78`},
		{"frame", func(w *Writer) { at := w.BeginFrame(); w.Int(7); w.EndFrame(at) },
			`00000004 00000007`},
		{"frame/empty", func(w *Writer) { w.EndFrame(w.BeginFrame()) }, `00000000`},
		{"frame/after-bytes", func(w *Writer) {
			w.B = append(w.B, 0xaa)
			at := w.BeginFrame()
			w.String("x")
			w.EndFrame(at)
		}, `aa 00000005 00000001 78`},
		{"frame/two", func(w *Writer) {
			at := w.BeginFrame()
			w.Bool(true)
			w.EndFrame(at)
			at = w.BeginFrame()
			w.Int(-1)
			w.Int(-1)
			w.EndFrame(at)
		}, `00000001 01 00000008 ffffffff ffffffff`},
		{"reset", func(w *Writer) { w.Int(5); w.Reset(); w.Bool(true) }, `01`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Writer
			tt.write(&w)
			if want := unhex(t, tt.hex); !bytes.Equal(w.B, want) {
				t.Errorf("got %x, want %x", w.B, want)
			}
		})
	}
}

func TestWriterResetKeepsCapacity(t *testing.T) {
	var w Writer
	w.Buffer(make([]byte, 100))
	c := cap(w.B)
	w.Reset()
	if len(w.B) != 0 || cap(w.B) != c {
		t.Errorf("after Reset len %d cap %d, want 0 and %d", len(w.B), cap(w.B), c)
	}
}

func TestReaderValues(t *testing.T) {
	tests := []struct {
		name     string
		hex      string
		read     func(r *Reader) any
		want     any
		wantLeft int
	}{
		{"int", `01020304 ff`, func(r *Reader) any { return r.Int() }, int32(0x01020304), 1},
		{"int/-1", `ffffffff`, func(r *Reader) any { return r.Int() }, int32(-1), 0},
		{"long", `0102030405060708`, func(r *Reader) any { return r.Long() }, int64(0x0102030405060708), 0},
		{"long/min", `8000000000000000`, func(r *Reader) any { return r.Long() }, int64(math.MinInt64), 0},
		{"bool/0", `00`, func(r *Reader) any { return r.Bool() }, false, 0},
		{"bool/1", `01`, func(r *Reader) any { return r.Bool() }, true, 0},
		// Java's DataInput.readBoolean: any non-zero byte is true.
		{"bool/2", `02`, func(r *Reader) any { return r.Bool() }, true, 0},
		{"string", `00000002 6162 00`, func(r *Reader) any { return r.String() }, "ab", 1},
		{"string/utf8", `00000006 c3a9 f09fa680`, func(r *Reader) any { return r.String() }, "é🦀", 0},
		{"string/empty", `00000000`, func(r *Reader) any { return r.String() }, "", 0},
		// A Java null string (-1) reads as "".
		{"string/null", `ffffffff`, func(r *Reader) any { return r.String() }, "", 0},
		{"buffer", `00000002 0a0b`, func(r *Reader) any { return r.Buffer() }, []byte{10, 11}, 0},
		{"buffer/empty", `00000000`, func(r *Reader) any { return r.Buffer() }, []byte{}, 0},
		{"buffer/null", `ffffffff`, func(r *Reader) any { return r.Buffer() }, []byte(nil), 0},
		{"strings", `00000002 00000001 61 ffffffff`, func(r *Reader) any { return r.Strings() }, []string{"a", ""}, 0},
		{"strings/empty", `00000000`, func(r *Reader) any { return r.Strings() }, []string{}, 0},
		{"strings/null", `ffffffff`, func(r *Reader) any { return r.Strings() }, []string(nil), 0},
		{"acls", `00000001 00000001 00000002 6970 00000001 78`, func(r *Reader) any { return r.ACLs() },
			[]ACL{{Perms: PermRead, ID: ID{Scheme: "ip", ID: "x"}}}, 0},
		{"acls/empty", `00000000 abcd`, func(r *Reader) any { return r.ACLs() }, []ACL{}, 2},
		{"acls/null", `ffffffff`, func(r *Reader) any { return r.ACLs() }, []ACL(nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(unhex(t, tt.hex))
			got := tt.read(r)
			if r.Err() != nil {
				t.Fatalf("err %v", r.Err())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if r.Len() != tt.wantLeft || len(r.Rest()) != tt.wantLeft {
				t.Errorf("Len %d, Rest %x; want %d bytes left", r.Len(), r.Rest(), tt.wantLeft)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		read    func(r *Reader) any
		want    any // the zero value a failed read returns
		wantErr error
	}{
		{"int/empty", ``, func(r *Reader) any { return r.Int() }, int32(0), ErrShort},
		{"int/3", `010203`, func(r *Reader) any { return r.Int() }, int32(0), ErrShort},
		{"long/7", `01020304050607`, func(r *Reader) any { return r.Long() }, int64(0), ErrShort},
		{"bool/empty", ``, func(r *Reader) any { return r.Bool() }, false, ErrShort},
		{"string/short-prefix", `0000`, func(r *Reader) any { return r.String() }, "", ErrShort},
		{"string/short-body", `00000005 61626364`, func(r *Reader) any { return r.String() }, "", ErrShort},
		{"string/huge", `7fffffff 61626364`, func(r *Reader) any { return r.String() }, "", ErrShort},
		{"string/-2", `fffffffe 61`, func(r *Reader) any { return r.String() }, "", ErrNegativeLength},
		{"string/min", `80000000`, func(r *Reader) any { return r.String() }, "", ErrNegativeLength},
		{"buffer/short-body", `00000002 01`, func(r *Reader) any { return r.Buffer() }, []byte(nil), ErrShort},
		{"buffer/huge", `7fffffff 0102030405060708`, func(r *Reader) any { return r.Buffer() }, []byte(nil), ErrShort},
		{"buffer/-2", `fffffffe`, func(r *Reader) any { return r.Buffer() }, []byte(nil), ErrNegativeLength},
		{"buffer/min", `80000000 00`, func(r *Reader) any { return r.Buffer() }, []byte(nil), ErrNegativeLength},
		{"strings/short-element", `00000002 00000001 61`, func(r *Reader) any { return r.Strings() }, []string(nil), ErrShort},
		// Each element needs at least its 4-byte length: 2 elements cannot fit in 7 bytes.
		{"strings/count-exceeds-min-size", `00000002 00000000 000000`, func(r *Reader) any { return r.Strings() }, []string(nil), ErrShort},
		{"strings/huge", `7fffffff 00000000`, func(r *Reader) any { return r.Strings() }, []string(nil), ErrShort},
		{"strings/-2", `fffffffe`, func(r *Reader) any { return r.Strings() }, []string(nil), ErrNegativeLength},
		{"strings/element-negative", `00000001 fffffffe`, func(r *Reader) any { return r.Strings() }, []string(nil), ErrNegativeLength},
		{"acls/11-bytes", `00000001 00000001 00000000 000000`, func(r *Reader) any { return r.ACLs() }, []ACL(nil), ErrShort},
		{"acls/huge", `7fffffff 00000000 00000000 00000000`, func(r *Reader) any { return r.ACLs() }, []ACL(nil), ErrShort},
		{"acls/-2", `fffffffe`, func(r *Reader) any { return r.ACLs() }, []ACL(nil), ErrNegativeLength},
		{"acls/element-negative", `00000001 0000001f fffffffe 00000000`, func(r *Reader) any { return r.ACLs() }, []ACL(nil), ErrNegativeLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(unhex(t, tt.hex))
			got := tt.read(r)
			if !errors.Is(r.Err(), tt.wantErr) {
				t.Errorf("err %v, want %v", r.Err(), tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want zero value %#v", got, tt.want)
			}
			if r.Len() != 0 || len(r.Rest()) != 0 {
				t.Errorf("%d bytes left after an error, want 0", r.Len())
			}
		})
	}
}

// TestReaderSticky: after the first error every read returns a zero value,
// even where bytes would have remained, and Err keeps the first error.
func TestReaderSticky(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		fail    func(r *Reader)
		wantErr error
	}{
		{"negative-length", `00000001 fffffffe 00000005 00000005 0000000000000005 01`,
			func(r *Reader) { r.Int(); _ = r.String() }, ErrNegativeLength},
		{"short", `00000001 00000009 61`,
			func(r *Reader) { r.Int(); r.Buffer() }, ErrShort},
		{"record", `00000004 2f61`,
			func(r *Reader) { (&PathWatchRequest{}).Decode(r) }, ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(unhex(t, tt.hex))
			tt.fail(r)
			if !errors.Is(r.Err(), tt.wantErr) {
				t.Fatalf("err %v, want %v", r.Err(), tt.wantErr)
			}
			got := []any{r.Int(), r.Long(), r.Bool(), r.String(), r.Buffer(), r.Strings(), r.ACLs()}
			want := []any{int32(0), int64(0), false, "", []byte(nil), []string(nil), []ACL(nil)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("reads after error %#v, want %#v", got, want)
			}
			var st Stat
			st.Decode(r)
			if st != (Stat{}) {
				t.Errorf("Stat after error %+v, want zero", st)
			}
			if !errors.Is(r.Err(), tt.wantErr) {
				t.Errorf("err became %v, want it to stay %v", r.Err(), tt.wantErr)
			}
			if r.Len() != 0 || len(r.Rest()) != 0 {
				t.Errorf("%d bytes left after an error, want 0", r.Len())
			}
			r.Reset([]byte{0, 0, 0, 9})
			if r.Err() != nil || r.Int() != 9 || r.Err() != nil {
				t.Errorf("after Reset: err %v", r.Err())
			}
		})
	}
}

func TestReaderCopiesOut(t *testing.T) {
	frame := unhex(t, `00000002 6162 00000002 0102`)
	r := NewReader(frame)
	s, b := r.String(), r.Buffer()
	for i := range frame {
		frame[i] = 0xee
	}
	if s != "ab" || !bytes.Equal(b, []byte{1, 2}) {
		t.Errorf("after reusing the frame: %q %x, want \"ab\" 0102", s, b)
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			var w Writer
			w.B = append(w.B, 0xaa) // Encode appends, it does not overwrite
			s.rec.Encode(&w)
			if m := Marshal(s.rec); !bytes.Equal(w.B[1:], m) {
				t.Errorf("Marshal %x, Encode %x", m, w.B[1:])
			}
			if err := Unmarshal(w.B[1:], s.fresh()); err != nil {
				t.Errorf("Unmarshal: %v", err)
			}
			// Trailing bytes are left to the caller (Reader.Len): the
			// optional ConnectRequest.readOnly depends on it.
			if err := Unmarshal(append(w.B[1:], 0, 0, 0, 0, 0), s.fresh()); err != nil {
				t.Errorf("Unmarshal with trailing bytes: %v", err)
			}
		})
	}
}

// TestTruncatedEveryCut decodes every strict prefix of every sample: each
// must fail with ErrShort, except the one cut that drops only the optional
// trailing readOnly.
func TestTruncatedEveryCut(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			enc := Marshal(s.rec)
			_, optionalTail := s.rec.(*ConnectRequest)
			if _, ok := s.rec.(*ConnectResponse); ok {
				optionalTail = true
			}
			for cut := range len(enc) {
				err := Unmarshal(enc[:cut], s.fresh())
				if optionalTail && cut == len(enc)-1 {
					if err != nil {
						t.Errorf("cut %d (no readOnly): %v", cut, err)
					}
					continue
				}
				if !errors.Is(err, ErrShort) {
					t.Errorf("cut %d of %d: err %v, want ErrShort", cut, len(enc), err)
				}
			}
		})
	}
}

// hostileFrames are 12-byte frames whose first length prefix claims about
// 2 GB (or 2^31 elements).
var hostileFrames = []struct {
	name   string
	frame  []byte
	decode func(r *Reader)
}{
	{"Buffer", []byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8}, func(r *Reader) { r.Buffer() }},
	{"String", []byte{0x7f, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}, func(r *Reader) { _ = r.String() }},
	{"Strings", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) { r.Strings() }},
	// 0x40000000 elements of 4 bytes: the multiplication must not overflow.
	{"Strings/quarter", []byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) { r.Strings() }},
	{"ACLs", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0}, func(r *Reader) { r.ACLs() }},
	{"GetDataResponse", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) {
		var x GetDataResponse
		x.Decode(r)
	}},
	{"AuthPacket", []byte{0, 0, 0, 0, 0, 0, 0, 1, 'x', 0x7f, 0xff, 0xff}, func(r *Reader) {
		var x AuthPacket
		x.Decode(r)
	}},
	{"WhoAmIResponse", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) {
		var x WhoAmIResponse
		x.Decode(r)
	}},
	{"SetWatches", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}, func(r *Reader) {
		var x SetWatches
		x.Decode(r)
	}},
	{"CreateRequest/path", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) {
		var x CreateRequest
		x.Decode(r)
	}},
}

// TestHostileLengthNoAlloc: a length prefix larger than the frame is
// ErrShort before anything is allocated.
func TestHostileLengthNoAlloc(t *testing.T) {
	for _, tt := range hostileFrames {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.frame)
			tt.decode(r)
			if !errors.Is(r.Err(), ErrShort) {
				t.Fatalf("err %v, want ErrShort", r.Err())
			}
			allocs := testing.AllocsPerRun(100, func() {
				r.Reset(tt.frame)
				tt.decode(r)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per decode, want 0", allocs)
			}
		})
	}
}

// TestHostileLengthUnmarshal: the same through Unmarshal, whose only
// allocations are the Reader and the record escaping through Record.
func TestHostileLengthUnmarshal(t *testing.T) {
	frame := []byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8}
	var rec GetDataResponse
	var err error
	allocs := testing.AllocsPerRun(100, func() { err = Unmarshal(frame, &rec) })
	if !errors.Is(err, ErrShort) {
		t.Fatalf("err %v, want ErrShort", err)
	}
	if allocs > 1 {
		t.Errorf("%v allocations per Unmarshal, want at most 1 (the Reader)", allocs)
	}
}

// TestDecodeAllocationBounded measures the bytes a decoder allocates for
// frames made of the smallest possible elements. The frame bounds them,
// but each element becomes a larger Go value, so the bound is a factor of
// the frame, not the frame itself: the doc's "never allocates more than
// the bytes it was given" does not hold for vectors and multis.
//
// Measured on amd64: vectors are preallocated, about 4x (a 4-byte string
// becomes a 16-byte header; a 12-byte ACL a 40-byte struct). Multis grow
// by append: a 13-byte op becomes a 192-byte MultiOp, a 9-byte delete
// result a 144-byte MultiResult, and append's 1.25x growth of large slices
// allocates about 5x the final slice in all, so 60-80x. With the default
// jute.maxbuffer of 1 MB that is ~75 MB allocated per hostile multi frame.
// factorMax guards against anything worse (say, quadratic growth).
func TestDecodeAllocationBounded(t *testing.T) {
	const n = 1 << 12
	const factorMax = 100
	var w Writer
	build := func(f func()) []byte { w.Reset(); f(); return append([]byte(nil), w.B...) }
	tests := []struct {
		name  string
		frame []byte
		rec   Record
	}{
		{"Strings/empty-elements", build(func() { w.Strings(make([]string, n)) }), &StringsResponse{}},
		{"ACLs/empty-elements", build(func() { (&GetACLResponse{ACL: make([]ACL, n)}).Encode(&w) }), &GetACLResponse{}},
		{"WhoAmI/empty-elements", build(func() { (&WhoAmIResponse{Infos: make([]ClientInfo, n)}).Encode(&w) }), &WhoAmIResponse{}},
		{"MultiRequest/getData-empty-path", build(func() {
			m := MultiRequest{Ops: make([]MultiOp, n)}
			for i := range m.Ops {
				m.Ops[i].Op = OpGetData
			}
			m.Encode(&w)
		}), &MultiRequest{}},
		{"MultiResponse/delete", build(func() {
			m := MultiResponse{Results: make([]MultiResult, n)}
			for i := range m.Results {
				m.Results[i].Op = OpDelete
			}
			m.Encode(&w)
		}), &MultiResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := reflect.New(reflect.TypeOf(tt.rec).Elem()).Interface().(Record)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := Unmarshal(tt.frame, fresh)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			factor := float64(allocated) / float64(len(tt.frame))
			t.Logf("frame %d bytes, allocated %d bytes: %.1fx", len(tt.frame), allocated, factor)
			if factor > factorMax {
				t.Errorf("allocated %.1fx the frame, want at most %dx", factor, factorMax)
			}
		})
	}
}

// TestEncodeNoAlloc: once the Writer has grown, encoding allocates nothing.
func TestEncodeNoAlloc(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			w := &Writer{B: make([]byte, 0, 4096)}
			allocs := testing.AllocsPerRun(20, func() {
				w.Reset()
				s.rec.Encode(w)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per encode, want 0", allocs)
			}
		})
	}
}
