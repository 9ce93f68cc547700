package peer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"zkd/broadcast/zab"
)

func TestHandshake(t *testing.T) {
	good := appendHandshake(nil, handshake{Version: protocolVersion, From: 1, To: 2})
	if len(good) != handshakeBytes {
		t.Fatalf("handshake is %d bytes, want %d", len(good), handshakeBytes)
	}
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	known := func(id zab.ID) bool { return id == 1 || id == 3 }
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"ok", good, nil},
		{"short", good[:handshakeBytes-1], errShort},
		{"long", append(bytes.Clone(good), 0), errShort},
		{"magic", with(0, 'H', 'T', 'T', 'P'), errBadMagic},
		{"version", with(4, 0, 2), errBadVersion},
		{"to another", with(14, 0, 0, 0, 0, 0, 0, 0, 9), errHelloTo},
		{"unknown from", with(6, 0, 0, 0, 0, 0, 0, 0, 9), errHelloFrom},
		{"zero from", with(6, 0, 0, 0, 0, 0, 0, 0, 0), errHelloFrom},
		{"own id", with(6, 0, 0, 0, 0, 0, 0, 0, 2), errHelloOwnID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeHandshake(tc.b)
			if err == nil {
				err = checkHello(h, 2, known)
			}
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
	h, _ := decodeHandshake(appendHandshake(nil, handshake{Version: protocolVersion, From: 2, To: 1}))
	if err := checkReply(h, 1, 2); err != nil {
		t.Fatalf("good reply: %v", err)
	}
	if err := checkReply(h, 1, 3); !errors.Is(err, errHelloFrom) {
		t.Fatalf("reply from the wrong server: %v", err)
	}
	if err := checkReply(h, 4, 2); !errors.Is(err, errHelloTo) {
		t.Fatalf("reply to the wrong server: %v", err)
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add(appendHandshake(nil, handshake{Version: protocolVersion, From: 1, To: 2}))
	f.Add(appendHandshake(nil, handshake{Version: protocolVersion, From: 2, To: 2}))
	f.Add(appendHandshake(nil, handshake{Version: 7, From: 3, To: 2}))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	f.Add([]byte{})
	known := func(id zab.ID) bool { return id == 1 || id == 3 }
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHandshake(b)
		if err != nil {
			return
		}
		if again := appendHandshake(nil, h); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
		if h.Version != protocolVersion {
			t.Fatalf("accepted version %d", h.Version)
		}
		if err := checkHello(h, 2, known); err == nil && (h.To != 2 || !known(h.From)) {
			t.Fatalf("accepted %+v", h)
		}
		if err := checkReply(h, 2, 1); err == nil && (h.To != 2 || h.From != 1) {
			t.Fatalf("accepted reply %+v", h)
		}
	})
}

func TestFrameRoundTrip(t *testing.T) {
	msgs := []zab.Message{
		{Type: zab.MsgPing, From: 1, To: 2, Epoch: 1, Zxid: 5},
		{Type: zab.MsgProposal, From: 1, To: 2, Epoch: 1, Zxid: 5,
			Entries: []zab.Entry{{Zxid: 6, Data: bytes.Repeat([]byte("x"), 3<<20)}, {Zxid: 7, Data: []byte("y")}}},
		{Type: zab.MsgProposal, From: 1, To: 2, Epoch: 1, Zxid: 7,
			Entries: []zab.Entry{{Zxid: 8, Data: bytes.Repeat([]byte("z"), 2<<20)}}},
		{Type: zab.MsgAck, From: 1, To: 2, Epoch: 1, Zxid: 8},
	}
	var stream []byte
	for i := range msgs {
		var err error
		if stream, err = appendFrame(stream, &msgs[i], 8<<20); err != nil {
			t.Fatal(err)
		}
	}
	fr := frameReader{r: bufio.NewReaderSize(bytes.NewReader(stream), 4096), maxBytes: 8 << 20}
	for i := range msgs {
		body, err := fr.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		m, err := zab.DecodeMessage(body)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		// The decoded message must not alias the reader's buffer.
		clear(body)
		if m.String() != msgs[i].String() || (len(m.Entries) > 0 && !bytes.Equal(m.Entries[0].Data, msgs[i].Entries[0].Data)) {
			t.Fatalf("frame %d: got %v, want %v", i, m, msgs[i])
		}
		grown := cap(fr.buf)
		fr.release()
		// A big buffer serves the next big frame, and goes with the
		// first small one.
		switch {
		case len(body) < grown/4 && fr.buf != nil && cap(fr.buf) > frameBufKeepBytes:
			t.Fatalf("frame %d (%d bytes): %d-byte buffer kept", i, len(body), cap(fr.buf))
		case len(body) >= grown/4 && cap(fr.buf) != grown:
			t.Fatalf("frame %d (%d bytes): %d-byte buffer dropped", i, len(body), grown)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}

	big := msgs[1]
	if _, err := appendFrame(nil, &big, 1<<20); !errors.Is(err, errMessageLarge) {
		t.Fatalf("oversized message: %v", err)
	}
}

func FuzzFrameReader(f *testing.F) {
	var seed []byte
	for _, m := range []zab.Message{
		{Type: zab.MsgPing, From: 1, To: 2, Epoch: 1, Zxid: 5},
		{Type: zab.MsgProposal, From: 1, To: 2, Epoch: 1, Zxid: 5, Entries: []zab.Entry{{Zxid: 6, Data: []byte("data")}}},
	} {
		seed, _ = appendFrame(seed, &m, 1<<10)
	}
	f.Add(seed, uint16(0))
	f.Add(seed[:len(seed)-1], uint16(100))
	f.Add([]byte{0, 0, 0, 0}, uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint16(0))
	f.Add(binary.BigEndian.AppendUint32(nil, 3000), uint16(5000))
	f.Fuzz(func(t *testing.T, stream []byte, extra uint16) {
		maxBytes := frameBytesMin + int(extra)
		fr := frameReader{r: bufio.NewReaderSize(bytes.NewReader(stream), 16), maxBytes: maxBytes}
		consumed := 0
		for {
			body, err := fr.next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errFrameSize) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && consumed != len(stream) {
					t.Fatalf("clean EOF after %d of %d bytes", consumed, len(stream))
				}
				return
			}
			if len(body) == 0 || len(body) > maxBytes {
				t.Fatalf("frame of %d bytes (max %d)", len(body), maxBytes)
			}
			if !bytes.Equal(body, stream[consumed+frameHeaderBytes:consumed+frameHeaderBytes+len(body)]) {
				t.Fatalf("frame body differs from the stream")
			}
			consumed += frameHeaderBytes + len(body)
			if m, err := zab.DecodeMessage(body); err == nil {
				again, err := appendFrame(nil, &m, maxBytes)
				if err != nil || !bytes.Equal(again[frameHeaderBytes:], body) {
					t.Fatalf("re-encoding differs (%v)", err)
				}
			}
			fr.release()
		}
	})
}

func TestBackoff(t *testing.T) {
	tr, err := New(Config{ID: 1, Listen: "127.0.0.1:0", Peers: map[zab.ID]string{2: "127.0.0.1:1"},
		DialBackoffMin: 10 * time.Millisecond, DialBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := tr.peers[2]
	rng := rand.New(rand.NewPCG(1, 2))
	for failures := range 70 {
		want := min(10*time.Millisecond<<min(failures, 20), time.Second)
		for range 20 {
			if d := p.backoff(rng, failures); d < want/2 || d > want {
				t.Fatalf("failures=%d: backoff %v outside [%v, %v]", failures, d, want/2, want)
			}
		}
	}
	huge := &peer{id: 2}
	huge.t = &Transport{cfg: Config{DialBackoffMin: time.Duration(1) << 61, DialBackoffMax: time.Duration(1)<<62 + 1}}
	if d := huge.backoff(rng, 60); d <= 0 || d > huge.t.cfg.DialBackoffMax {
		t.Fatalf("huge backoff %v", d)
	}
}
