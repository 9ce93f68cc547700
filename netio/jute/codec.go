package jute

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrShort is returned when a frame ends before the record does, or when a
// length prefix claims more bytes than the frame holds.
var ErrShort = errors.New("jute: short or malformed record")

// ErrNegativeLength is returned for a length below -1 (only -1 means null).
var ErrNegativeLength = errors.New("jute: negative length")

// Writer appends jute-encoded values to B.
type Writer struct {
	B []byte
}

// Reset empties the writer, keeping its capacity.
func (w *Writer) Reset() { w.B = w.B[:0] }

func (w *Writer) Int(v int32) { w.B = binary.BigEndian.AppendUint32(w.B, uint32(v)) }

func (w *Writer) Long(v int64) { w.B = binary.BigEndian.AppendUint64(w.B, uint64(v)) }

func (w *Writer) Bool(v bool) {
	if v {
		w.B = append(w.B, 1)
	} else {
		w.B = append(w.B, 0)
	}
}

// String writes a ustring: length then UTF-8 bytes. Jute has no null
// string distinct from ""; Apache ZooKeeper writes -1 for a null Java
// string, which we never produce.
func (w *Writer) String(s string) {
	w.Int(int32(len(s)))
	w.B = append(w.B, s...)
}

// Buffer writes a buffer; a nil slice is written as null (-1).
func (w *Writer) Buffer(b []byte) {
	if b == nil {
		w.Int(-1)
		return
	}
	w.Int(int32(len(b)))
	w.B = append(w.B, b...)
}

// Strings writes a vector<ustring>; nil is written as null (-1).
func (w *Writer) Strings(v []string) {
	if v == nil {
		w.Int(-1)
		return
	}
	w.Int(int32(len(v)))
	for _, s := range v {
		w.String(s)
	}
}

// Reader decodes jute values from one frame. The first error sticks: later
// reads return zero values, so a record decodes without checks per field.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader returns a Reader over b. The Reader does not copy b; strings
// are copied out, byte buffers are copied out too (see Buffer).
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Reset points the reader at a new frame.
func (r *Reader) Reset(b []byte) { r.b, r.off, r.err = b, 0, nil }

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Rest returns the unread bytes without consuming them.
func (r *Reader) Rest() []byte { return r.b[r.off:] }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

func (r *Reader) Int() int32 {
	if r.Len() < 4 {
		r.fail(ErrShort)
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v
}

func (r *Reader) Long() int64 {
	if r.Len() < 8 {
		r.fail(ErrShort)
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return v
}

func (r *Reader) Bool() bool {
	if r.Len() < 1 {
		r.fail(ErrShort)
		return false
	}
	v := r.b[r.off] != 0
	r.off++
	return v
}

// length reads a length prefix and checks that at least n*min bytes remain,
// so that a hostile prefix cannot trigger a large allocation. -1 (null) is
// returned as -1.
func (r *Reader) length(minElem int) int {
	n := r.Int()
	if r.err != nil {
		return -1
	}
	if n < -1 {
		r.fail(ErrNegativeLength)
		return -1
	}
	if n > 0 && int64(n)*int64(minElem) > int64(r.Len()) {
		r.fail(ErrShort)
		return -1
	}
	return int(n)
}

// String reads a ustring. Bytes that are not UTF-8 become U+FFFD, one per
// bad byte, as Java's decoder does in Apache ZooKeeper, so a path echoed
// back (sync, watch events) reads the same from both servers.
func (r *Reader) String() string {
	n := r.length(1)
	if n <= 0 {
		return ""
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	if !utf8.Valid(b) {
		return toValidUTF8(b)
	}
	return string(b)
}

func toValidUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		sb.WriteRune(r) // RuneError for a bad byte is U+FFFD
		b = b[size:]
	}
	return sb.String()
}

// Buffer reads a buffer. Null (-1) decodes as nil; an empty buffer as a
// non-nil empty slice. The bytes are copied so the frame can be reused.
func (r *Reader) Buffer() []byte {
	n := r.length(1)
	if n < 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, r.b[r.off:r.off+n])
	r.off += n
	return b
}

// BufferView reads a buffer as Buffer does, but returns a slice of the
// frame instead of a copy: it is valid until the frame is reused.
func (r *Reader) BufferView() []byte {
	n := r.length(1)
	if n < 0 {
		return nil
	}
	b := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Strings reads a vector<ustring>; null decodes as nil.
func (r *Reader) Strings() []string {
	n := r.length(4)
	if n < 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = r.String()
	}
	if r.err != nil {
		return nil
	}
	return v
}

// Record is a jute record.
type Record interface {
	Encode(w *Writer)
	Decode(r *Reader)
}

// Marshal encodes rec into a new slice.
func Marshal(rec Record) []byte {
	var w Writer
	rec.Encode(&w)
	return w.B
}

// Unmarshal decodes rec from b and returns the first error.
func Unmarshal(b []byte, rec Record) error {
	r := NewReader(b)
	rec.Decode(r)
	return r.Err()
}

// BeginFrame reserves the 4-byte length prefix of a frame and returns its
// offset; EndFrame fills it in once the body is written.
func (w *Writer) BeginFrame() int {
	at := len(w.B)
	w.B = append(w.B, 0, 0, 0, 0)
	return at
}

// EndFrame writes the length of the frame started at at.
func (w *Writer) EndFrame(at int) {
	binary.BigEndian.PutUint32(w.B[at:], uint32(len(w.B)-at-4))
}
