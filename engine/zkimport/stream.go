package zkimport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
)

const (
	// bufferBytesMax bounds one jute buffer or string read from a file:
	// a znode's data, a log record. ZooKeeper refuses anything above
	// jute.maxbuffer (1 MB by default) plus a little; this is far above
	// any setting that makes sense and still keeps a corrupt length from
	// meaning "read forever".
	bufferBytesMax = 1 << 30

	// readStepBytes is how much a buffer grows at a time while it is
	// read, so that a corrupt length costs memory only as far as the
	// bytes really there.
	readStepBytes = 1 << 20

	// streamBufBytes is the file read buffer.
	streamBufBytes = 64 << 10
)

// errShort is a read that ran out of input in the middle of a value.
var errShort = errors.New("unexpected end of input")

// adler is Adler-32 (RFC 1950), the checksum of ZooKeeper's snapshot
// stream and log records (java.util.zip.Adler32). A value, so that the
// state can be copied to try one reading of a file's tail and then
// another.
type adler struct{ a, b uint32 }

const (
	adlerMod = 65521
	// adlerNMax is the most bytes that can be summed before b may
	// overflow 32 bits and must be reduced (zlib's NMAX).
	adlerNMax = 5552
)

func newAdler() adler { return adler{a: 1} }

func (s *adler) update(p []byte) {
	a, b := s.a, s.b
	for len(p) > 0 {
		n := min(len(p), adlerNMax)
		for _, c := range p[:n] {
			a += uint32(c)
			b += a
		}
		a %= adlerMod
		b %= adlerMod
		p = p[n:]
	}
	s.a, s.b = a, b
}

func (s adler) sum() uint32 { return s.b<<16 | s.a }

// adler32 is the checksum of p.
func adler32(p []byte) uint32 {
	s := newAdler()
	s.update(p)
	return s.sum()
}

// stream reads jute values (big-endian ints and longs, length-prefixed
// buffers and strings) from a file, counting the offset and, when sum is
// on, checksumming every byte consumed. The first error sticks: later
// reads return zero values, so a record decodes without a check per
// field.
type stream struct {
	br  *bufio.Reader
	off int64
	err error
	sum adler
	on  bool // checksum the bytes read
	tmp [8]byte
	buf []byte
}

func newStream(r io.Reader) *stream {
	return &stream{br: bufio.NewReaderSize(r, streamBufBytes), sum: newAdler()}
}

func (s *stream) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// read fills p from the input; a short read fails the stream with
// errShort (or the reader's own error).
func (s *stream) read(p []byte) bool {
	if s.err != nil {
		return false
	}
	n, err := io.ReadFull(s.br, p)
	s.off += int64(n)
	if s.on {
		s.sum.update(p[:n])
	}
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errShort
		}
		s.fail(err)
		return false
	}
	return true
}

func (s *stream) int32() int32 {
	if !s.read(s.tmp[:4]) {
		return 0
	}
	return int32(binary.BigEndian.Uint32(s.tmp[:4]))
}

func (s *stream) int64() int64 {
	if !s.read(s.tmp[:8]) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(s.tmp[:8]))
}

// bytes reads n bytes into a buffer that grows with what is really
// there; the result is valid until the next call.
func (s *stream) bytes(n int) []byte {
	s.buf = s.buf[:0]
	for len(s.buf) < n && s.err == nil {
		step := min(n-len(s.buf), readStepBytes)
		s.buf = slices.Grow(s.buf, step)
		at := len(s.buf)
		s.buf = s.buf[:at+step]
		if !s.read(s.buf[at:]) {
			return nil
		}
	}
	return s.buf
}

// length reads a length prefix: -1 (null) comes back as -1, anything
// else negative or above bufferBytesMax fails the stream.
func (s *stream) length() int {
	n := s.int32()
	if s.err != nil {
		return -1
	}
	if n < -1 || n > bufferBytesMax {
		s.fail(errors.New("bad length"))
		return -1
	}
	return int(n)
}

// buffer reads a jute buffer: null is nil, empty is a non-nil empty slice
// (ZooKeeper keeps them apart, and so do zkd's clients).
func (s *stream) buffer() []byte {
	n := s.length()
	if n < 0 {
		return nil
	}
	b := s.bytes(n)
	if s.err != nil {
		return nil
	}
	return append(make([]byte, 0, n), b...)
}

// ustring reads a jute string; null reads as "" with null true. The bytes
// are kept as they are (ZooKeeper writes them as UTF-8); path checks
// refuse what is not.
func (s *stream) ustring() (v string, null bool) {
	n := s.length()
	if n < 0 {
		return "", s.err == nil
	}
	b := s.bytes(n)
	if s.err != nil {
		return "", false
	}
	return string(b), false
}

// atEOF reports whether the input is exhausted (a read error other than
// the end counts as not at the end: the next read reports it).
func (s *stream) atEOF() bool {
	if s.err != nil {
		return false
	}
	_, err := s.br.Peek(1)
	return err == io.EOF
}

// zeros is a buffer's worth of zero bytes to compare with.
var zeros [streamBufBytes]byte

// restZero reads the rest of the input and reports whether every byte of
// it is zero (the preallocated tail of a log file), with the offset of
// the first non-zero byte when not.
func (s *stream) restZero() (ok bool, firstNonZero int64, err error) {
	if s.err != nil {
		return false, s.off, s.err
	}
	for {
		// A log's zero tail is tens of megabytes: compare it a buffer at
		// a time (memcmp), and look for the byte only when one differs.
		b, rerr := s.br.Peek(min(s.br.Size(), len(zeros)))
		if !bytes.Equal(b, zeros[:len(b)]) {
			return false, s.off + int64(bytes.IndexFunc(b, func(r rune) bool { return r != 0 })), nil
		}
		n, _ := s.br.Discard(len(b))
		s.off += int64(n)
		switch rerr {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return true, 0, nil
		default:
			return false, s.off, rerr
		}
	}
}
