package zkimport

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/snappy"
)

// Snapshot compression (ZooKeeper 3.6+, zookeeper.snapshot.compression.
// method): the whole snapshot stream, checksums included, is compressed,
// and the name says how: snapshot.<zxid>.gz is gzip, snapshot.<zxid>.snappy
// is snappy-java's SnappyOutputStream format:
//
//	header = 8 bytes 0x82 "SNAPPY" 0x00, int version, int compatible version
//	chunk  = int n, n bytes of one Snappy block (its decoded length first)
//
// repeated to the end; a header may appear again between chunks (streams
// written one after the other). The checksums are over the uncompressed
// stream.

// Compression is how a snapshot file is compressed.
type Compression int

const (
	CompressionNone Compression = iota
	CompressionGzip
	CompressionSnappy
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gz"
	case CompressionSnappy:
		return "snappy"
	}
	return fmt.Sprintf("compression(%d)", int(c))
}

var snappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	snappyHeaderBytes = 16
	// snappyChunkBytesMax bounds a chunk, compressed or not; snappy-java
	// writes 32 KB blocks by default.
	snappyChunkBytesMax = 64 << 20
)

// ErrSnappy is wrapped by every error of a malformed snappy stream.
var ErrSnappy = errors.New("zkimport: malformed snappy stream")

// decompress returns the uncompressed stream of a snapshot file.
func decompress(r io.Reader, c Compression) (io.Reader, error) {
	switch c {
	case CompressionNone:
		return r, nil
	case CompressionGzip:
		return gzip.NewReader(r)
	case CompressionSnappy:
		return NewSnappyReader(r)
	}
	return nil, fmt.Errorf("zkimport: unknown compression %v", c)
}

// SnappyReader decodes a snappy-java stream (SnappyOutputStream).
type SnappyReader struct {
	r   io.Reader
	in  []byte
	out []byte
	pos int
	err error
	hdr [snappyHeaderBytes]byte
}

// NewSnappyReader reads the stream header from r.
func NewSnappyReader(r io.Reader) (*SnappyReader, error) {
	z := &SnappyReader{r: r}
	if _, err := io.ReadFull(r, z.hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnappy, err)
	}
	if !bytes.Equal(z.hdr[:len(snappyMagic)], snappyMagic) {
		return nil, fmt.Errorf("%w: no snappy-java magic", ErrSnappy)
	}
	return z, nil
}

func (z *SnappyReader) Read(p []byte) (int, error) {
	for z.pos == len(z.out) {
		if z.err != nil {
			return 0, z.err
		}
		z.next()
	}
	n := copy(p, z.out[z.pos:])
	z.pos += n
	return n, nil
}

// next decodes the next chunk into out, or sets err (io.EOF at the end).
func (z *SnappyReader) next() {
	z.out, z.pos = z.out[:0], 0
	var lenBuf [4]byte
	switch _, err := io.ReadFull(z.r, lenBuf[:]); {
	case err == io.EOF:
		z.err = io.EOF
		return
	case err != nil:
		z.err = fmt.Errorf("%w: chunk length: %v", ErrSnappy, err)
		return
	}
	if lenBuf[0] == snappyMagic[0] {
		// Another stream's header (a length never has the top bit set).
		copy(z.hdr[:], lenBuf[:])
		if _, err := io.ReadFull(z.r, z.hdr[4:]); err != nil || !bytes.Equal(z.hdr[:len(snappyMagic)], snappyMagic) {
			z.err = fmt.Errorf("%w: bad header between chunks", ErrSnappy)
		}
		return
	}
	n := int(binary.BigEndian.Uint32(lenBuf[:]))
	if n == 0 || n > snappyChunkBytesMax {
		z.err = fmt.Errorf("%w: chunk of %d bytes", ErrSnappy, n)
		return
	}
	// Grow with what is really there, so a corrupt length costs memory
	// only as far as the input goes.
	z.in = z.in[:0]
	for len(z.in) < n {
		step := min(n-len(z.in), readStepBytes)
		z.in = slices.Grow(z.in, step)
		at := len(z.in)
		z.in = z.in[:at+step]
		if _, err := io.ReadFull(z.r, z.in[at:]); err != nil {
			z.err = fmt.Errorf("%w: chunk of %d bytes: %v", ErrSnappy, n, err)
			return
		}
	}
	dlen, err := snappy.DecodedLen(z.in)
	if err != nil || dlen > snappyChunkBytesMax {
		z.err = fmt.Errorf("%w: chunk decodes to %d bytes (%v)", ErrSnappy, dlen, err)
		return
	}
	out, err := snappy.Decode(z.out[:cap(z.out)], z.in)
	if err != nil {
		z.err = fmt.Errorf("%w: %v", ErrSnappy, err)
		return
	}
	z.out = out
}
