package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"zkd/broadcast/zab"
)

// Wire format. A connection opens with a handshake in each direction, then
// carries frames from the dialer to the acceptor only:
//
//	handshake = magic:"ZKDP" version:u16 from:u64 to:u64   (big-endian, 22 bytes)
//	frame     = length:u32 message                          (big-endian length of message)
//
// where message is zab.AppendMessage's encoding and 0 < length <=
// MaxFrameBytes. The dialer sends its handshake (from = itself, to = the
// server it means to reach); the acceptor checks it and answers with its
// own (from = itself, to = the dialer), which the dialer checks before it
// sends any frame. A future version keeps magic and version first.

const (
	handshakeMagic   = "ZKDP"
	protocolVersion  = 1
	handshakeBytes   = 4 + 2 + 8 + 8
	frameHeaderBytes = 4

	// Frame buffers grow with what actually arrives, from frameGrowBytesMin,
	// so a peer that announces a big frame must send it before it holds
	// that much of our memory; buffers above frameBufKeepBytes are released
	// once frames are small again, so one SNAP does not pin 64 MiB per link.
	frameGrowBytesMin = 64 << 10
	frameBufKeepBytes = 1 << 20
)

var (
	errBadMagic     = errors.New("peer: bad handshake magic")
	errBadVersion   = errors.New("peer: unsupported protocol version")
	errShort        = errors.New("peer: short handshake")
	errHelloTo      = errors.New("peer: handshake addressed to another server")
	errHelloFrom    = errors.New("peer: handshake from an unexpected server")
	errHelloOwnID   = errors.New("peer: handshake claims this server's own id (duplicate id)")
	errFrameSize    = errors.New("peer: frame length out of range")
	errMessageLarge = errors.New("peer: message larger than MaxFrameBytes")
)

// handshake is the first thing each side of a connection sends.
type handshake struct {
	Version  uint16
	From, To zab.ID
}

func appendHandshake(b []byte, h handshake) []byte {
	b = append(b, handshakeMagic...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(h.From))
	return binary.BigEndian.AppendUint64(b, uint64(h.To))
}

// decodeHandshake decodes exactly handshakeBytes bytes. It checks the
// magic and the version; the ids are for checkHello.
func decodeHandshake(b []byte) (handshake, error) {
	if len(b) != handshakeBytes {
		return handshake{}, fmt.Errorf("%w: %d bytes", errShort, len(b))
	}
	if string(b[:4]) != handshakeMagic {
		return handshake{}, fmt.Errorf("%w %q", errBadMagic, b[:4])
	}
	h := handshake{
		Version: binary.BigEndian.Uint16(b[4:]),
		From:    zab.ID(binary.BigEndian.Uint64(b[6:])),
		To:      zab.ID(binary.BigEndian.Uint64(b[14:])),
	}
	if h.Version != protocolVersion {
		return handshake{}, fmt.Errorf("%w %d (want %d)", errBadVersion, h.Version, protocolVersion)
	}
	return h, nil
}

// checkHello checks the ids of a dialer's handshake at the acceptor self:
// it must be addressed to self and come from a known server other than
// self.
func checkHello(h handshake, self zab.ID, known func(zab.ID) bool) error {
	switch {
	case h.To != self:
		return fmt.Errorf("%w: to %v, this is %v", errHelloTo, h.To, self)
	case h.From == self:
		return fmt.Errorf("%w: %v", errHelloOwnID, h.From)
	case h.From == 0 || !known(h.From):
		return fmt.Errorf("%w: unknown id %v", errHelloFrom, h.From)
	}
	return nil
}

// checkReply checks the acceptor's handshake at the dialer self, which
// dialed want.
func checkReply(h handshake, self, want zab.ID) error {
	switch {
	case h.To != self:
		return fmt.Errorf("%w: to %v, this is %v", errHelloTo, h.To, self)
	case h.From != want:
		return fmt.Errorf("%w: %v answered, dialed %v", errHelloFrom, h.From, want)
	}
	return nil
}

// appendFrame appends m's frame to b. If the message is bigger than
// maxBytes it returns b unchanged and errMessageLarge.
func appendFrame(b []byte, m *zab.Message, maxBytes int) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = zab.AppendMessage(b, m)
	n := len(b) - start - frameHeaderBytes
	if n > maxBytes {
		return b[:start], fmt.Errorf("%w: %v is %d bytes (max %d)", errMessageLarge, m.Type, n, maxBytes)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// frameReader reads length-prefixed frames, reusing one buffer.
type frameReader struct {
	r        *bufio.Reader
	maxBytes int
	buf      []byte
}

// next returns the next frame's body. It is valid until the next call to
// next or release. A length of zero or above maxBytes is errFrameSize; a
// stream that ends inside a frame is io.ErrUnexpectedEOF.
func (fr *frameReader) next() ([]byte, error) {
	var hdr [frameHeaderBytes]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(fr.maxBytes) {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", errFrameSize, n, fr.maxBytes)
	}
	need := int(n)
	if need <= cap(fr.buf) {
		fr.buf = fr.buf[:need]
		if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
			return nil, noEOF(err)
		}
		return fr.buf, nil
	}
	buf := fr.buf[:0]
	for len(buf) < need {
		chunk := min(need-len(buf), max(len(buf), frameGrowBytesMin))
		buf = slices.Grow(buf, chunk)
		have := len(buf)
		buf = buf[:have+chunk]
		if _, err := io.ReadFull(fr.r, buf[have:]); err != nil {
			fr.buf = buf[:0]
			return nil, noEOF(err)
		}
	}
	fr.buf = buf
	return buf, nil
}

// release drops a buffer that grew above frameBufKeepBytes once a frame
// needs less than a quarter of it: big PROPOSALs one after another under
// load keep reusing it (regrowing it for each cost a follower 7 % of its
// CPU), while a lone SNAP does not pin it past the next small frame.
func (fr *frameReader) release() {
	if cap(fr.buf) > frameBufKeepBytes && len(fr.buf) < cap(fr.buf)/4 {
		fr.buf = nil
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
