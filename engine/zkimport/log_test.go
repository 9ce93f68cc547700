package zkimport

import (
	"bytes"
	"encoding/binary"
	"errors"
	stdadler "hash/adler32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
)

// testRecords returns n framed records with zxids 1..n (setData of /a).
func testRecords(n int) [][]byte {
	var recs [][]byte
	for i := 1; i <= n; i++ {
		h := zktest.Header{Session: 1, Cxid: int32(i), Zxid: int64(i), Time: 1000, Type: jute.OpSetData}
		recs = append(recs, zktest.Record(zktest.Txn(h, zktest.SetData("/a", []byte{byte(i)}, int32(i)), nil)))
	}
	return recs
}

// readLog reads every record of file and returns their zxids, the end
// and the error that stopped it (nil at io.EOF).
func readLog(t *testing.T, file []byte) ([]int64, *LogEnd, error) {
	t.Helper()
	lr, err := NewLogReader(bytes.NewReader(file), "log.1")
	if err != nil {
		return nil, nil, err
	}
	var zxids []int64
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			return zxids, lr.End(), nil
		}
		if err != nil {
			if _, again := lr.Next(); again != err {
				t.Errorf("error not sticky: %v, then %v", err, again)
			}
			return zxids, nil, err
		}
		e, err := DecodeEntry(rec.Payload)
		if err != nil {
			t.Fatalf("record at %d: %v", rec.Offset, err)
		}
		if z, ok := rec.Zxid(); !ok || z != e.Header.Zxid {
			t.Errorf("Zxid() = %d, %v; header says %d", z, ok, e.Header.Zxid)
		}
		zxids = append(zxids, e.Header.Zxid)
	}
}

func TestLogReader(t *testing.T) {
	recs := testRecords(3)
	recLen := int64(len(recs[0]))
	end := int64(fileHdrBytes) + 3*recLen // after the third record
	last := end - recLen                  // where the third record starts
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	corrupt := func(rec []byte, at int, v byte) []byte {
		c := bytes.Clone(rec)
		c[at] = v
		return c
	}
	badCRC := corrupt(recs[2], 3, recs[2][3]^0xff)
	noEOR := corrupt(recs[2], len(recs[2])-1, 0)
	tests := []struct {
		name    string
		file    []byte
		zxids   int    // records read
		end     LogEnd // when the records end
		corrupt int64  // offset of a CorruptError, -1 for none
		errHas  string // in the error
	}{
		{name: "padded", file: zktest.Log(4096, recs...), zxids: 3, end: LogEnd{Offset: end}, corrupt: -1},
		{name: "no padding", file: zktest.Log(0, recs...), zxids: 3, end: LogEnd{Offset: end}, corrupt: -1},
		{name: "empty", file: zktest.Log(100), end: LogEnd{Offset: fileHdrBytes}, corrupt: -1},
		{name: "header cut", file: zktest.Log(0, recs...)[:end+6], zxids: 3,
			end: LogEnd{Offset: end, Torn: true, Reason: "record header cut short by the end of the file"}, corrupt: -1},
		{name: "payload cut", file: zktest.Log(0, recs...)[:end-5], zxids: 2,
			end: LogEnd{Offset: last, Torn: true, Reason: "cut short"}, corrupt: -1},
		{name: "eor missing at the end", file: zktest.Log(0, recs...)[:end-1], zxids: 2,
			end: LogEnd{Offset: last, Torn: true, Reason: "cut short"}, corrupt: -1},
		{name: "eor zero then zeros", file: join(zktest.Log(0, recs[0], recs[1], noEOR), make([]byte, 100)), zxids: 2,
			end: LogEnd{Offset: last, Torn: true, Reason: "end-of-record byte 0x0"}, corrupt: -1},
		{name: "bad checksum then zeros", file: join(zktest.Log(0, recs[0], recs[1], badCRC), make([]byte, 100)), zxids: 2,
			end: LogEnd{Offset: last, Torn: true, Reason: "checksum"}, corrupt: -1},
		{name: "torn header then zeros", file: join(zktest.Log(0, recs...), []byte{0, 0, 0, 0, 0, 0, 0, 9}, make([]byte, 100)), zxids: 3,
			end: LogEnd{Offset: end, Torn: true, Reason: "zero length"}, corrupt: -1},
		{name: "bad checksum mid-log", file: zktest.Log(64, recs[0], corrupt(recs[1], 3, recs[1][3]^1), recs[2]), zxids: 1,
			corrupt: int64(fileHdrBytes) + recLen, errHas: "checksum"},
		{name: "eor wrong mid-log", file: zktest.Log(64, recs[0], corrupt(recs[1], len(recs[1])-1, 'C'), recs[2]), zxids: 1,
			corrupt: int64(fileHdrBytes) + recLen, errHas: "end-of-record"},
		{name: "zero length then data", file: join(zktest.Log(0, recs[0]), make([]byte, 12), recs[1]), zxids: 1,
			corrupt: int64(fileHdrBytes) + recLen, errHas: "non-zero bytes follow"},
		{name: "negative length then data", file: join(zktest.Log(0, recs[0]), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe}, recs[1]), zxids: 1,
			corrupt: int64(fileHdrBytes) + recLen, errHas: "record length -2"},
		{name: "bad magic", file: append([]byte("ZKSN"), zktest.Log(0, recs...)[4:]...), corrupt: 0, errHas: "magic"},
		{name: "bad version", file: append(binary.BigEndian.AppendUint64(nil, 0x5a4b4c4700000003), zktest.Log(0, recs...)[8:]...), corrupt: 4, errHas: "version 3"},
		{name: "short file header", file: zktest.Log(0)[:10], corrupt: 0, errHas: "shorter than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zxids, end, err := readLog(t, tc.file)
			if len(zxids) != tc.zxids {
				t.Errorf("read %d records (%v), want %d", len(zxids), zxids, tc.zxids)
			}
			for i, z := range zxids {
				if z != int64(i+1) {
					t.Errorf("record %d has zxid %d", i, z)
				}
			}
			if tc.corrupt >= 0 {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Offset != tc.corrupt || !errors.Is(err, ErrCorrupt) || ce.File != "log.1" {
					t.Fatalf("error %v, want a CorruptError at offset %d", err, tc.corrupt)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not say %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if end.Offset != tc.end.Offset || end.Torn != tc.end.Torn || !strings.Contains(end.Reason, tc.end.Reason) || (tc.end.Reason == "") != (end.Reason == "") {
				t.Errorf("end %+v, want %+v", *end, tc.end)
			}
		})
	}
}

// TestLogReaderPrefixes reads every prefix of a log: none may fail other
// than as a torn tail, and each gives the records wholly inside it.
func TestLogReaderPrefixes(t *testing.T) {
	recs := testRecords(4)
	file := zktest.Log(0, recs...)
	for n := fileHdrBytes; n <= len(file); n++ {
		zxids, end, err := readLog(t, file[:n])
		if err != nil {
			t.Fatalf("prefix %d: %v", n, err)
		}
		whole := (n - fileHdrBytes) / len(recs[0])
		if len(zxids) != whole || end.Torn != ((n-fileHdrBytes)%len(recs[0]) != 0) {
			t.Fatalf("prefix %d: %d records, end %+v; want %d", n, len(zxids), end, whole)
		}
	}
}

func TestAdler(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 100, adlerNMax - 1, adlerNMax, adlerNMax + 1, 3*adlerNMax + 7, 1 << 20} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		if n == 1<<20 {
			for i := range b {
				b[i] = 0xff // the worst case for overflow
			}
		}
		if got, want := adler32(b), adler32Std(b); got != want {
			t.Errorf("adler32 of %d bytes = %#x, want %#x", n, got, want)
		}
		// Fed in pieces, as the stream does.
		s := newAdler()
		for p := b; len(p) > 0; {
			k := min(len(p), 1+rnd.IntN(9000))
			s.update(p[:k])
			p = p[k:]
		}
		if s.sum() != adler32Std(b) {
			t.Errorf("piecewise adler32 of %d bytes differs", n)
		}
	}
}

func adler32Std(b []byte) uint32 { return stdadler.Checksum(b) }
