package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"zkd/broadcast/zab"
)

func encodeSnapshotBytes(f snapFile) []byte {
	head, tail := encodeSnapshotFile(f)
	return slices.Concat(head, f.Data, tail)
}

// reseal recomputes b's checksum, so a test reaches the checks after it.
func reseal(b []byte) []byte {
	n := len(b) - snapCRCBytes
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

// TestSnapshotFileRoundTrip: what encodeSnapshotFile writes decodes to the
// same snapshot and log generation.
func TestSnapshotFileRoundTrip(t *testing.T) {
	for _, f := range []snapFile{
		{},
		{Snapshot: zab.Snapshot{Zxid: zab.MakeZxid(3, 7), Data: []byte("tree")}, logGen: 2},
		{Snapshot: zab.Snapshot{Zxid: zab.MakeZxid(1<<32-1, 1<<32-1), Data: bytes.Repeat([]byte{0xff}, 1<<16)}, logGen: 1<<64 - 1},
	} {
		got, err := decodeSnapshotFile(encodeSnapshotBytes(f))
		if err != nil {
			t.Fatalf("%v: %v", f.Zxid, err)
		}
		if got.Zxid != f.Zxid || got.logGen != f.logGen || !bytes.Equal(got.Data, f.Data) {
			t.Fatalf("decoded %v/%d (%d bytes), want %v/%d (%d bytes)", got.Zxid, got.logGen, len(got.Data), f.Zxid, f.logGen, len(f.Data))
		}
	}
}

// TestSnapshotFileRefused: each check of decodeSnapshotFile, the ones
// behind the checksum reached with a resealed file.
func TestSnapshotFileRefused(t *testing.T) {
	good := func() []byte {
		return encodeSnapshotBytes(snapFile{Snapshot: zab.Snapshot{Zxid: 9, Data: []byte("data")}, logGen: 1})
	}
	for _, tc := range []struct {
		name, want string
		b          []byte
	}{
		{"short", "shorter than a header", good()[:snapHeaderBytes]},
		{"flipped", "checksum", func() []byte { b := good(); b[20] ^= 4; return b }()},
		{"magic", "magic", func() []byte { b := good(); b[0] = 'x'; return reseal(b) }()},
		{"version", "format version 2", func() []byte { b := good(); b[7] = 2; return reseal(b) }()},
		{"length", "header says 5 data bytes, file holds 4", func() []byte { b := good(); b[31] = 5; return reseal(b) }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSnapshotFile(tc.b)
			if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeSnapshotFile: decoding never panics, and whatever decodes
// encodes back to the same bytes. Each input is also tried resealed, so
// the checks behind the checksum see mutated headers too.
func FuzzDecodeSnapshotFile(f *testing.F) {
	f.Add(encodeSnapshotBytes(snapFile{}))
	f.Add(encodeSnapshotBytes(snapFile{Snapshot: zab.Snapshot{Zxid: zab.MakeZxid(2, 3), Data: []byte("some state")}, logGen: 4}))
	f.Add([]byte("zkSN"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inputs := [][]byte{b}
		if len(b) >= snapCRCBytes {
			inputs = append(inputs, reseal(slices.Clone(b)))
		}
		for _, in := range inputs {
			sf, err := decodeSnapshotFile(in)
			if err != nil {
				continue
			}
			if again := encodeSnapshotBytes(sf); !bytes.Equal(again, in) {
				t.Fatalf("%x decodes, but encodes back as %x", in, again)
			}
		}
	})
}
