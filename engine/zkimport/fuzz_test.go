package zkimport

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
	"zkd/tree"
)

// The fuzz targets feed arbitrary bytes to every decoder: none may panic,
// hang or allocate far beyond its input. Seeds: the hand-built files of
// the unit tests, and in testdata/fuzz files Apache ZooKeeper 3.8 wrote
// (a snapshot, a snappy snapshot, the head of a log, one record of each
// transaction type its log held).
//
//	go test -run '^$' -fuzz FuzzDecodeEntry -fuzztime 20s -fuzzminimizetime 2s ./engine/zkimport/
//
// (Minimizing a new input cut from the multi-kilobyte ZooKeeper seeds takes
// the default 60 s per input and shows as 0 execs/s; hence the shorter
// -fuzzminimizetime.)

// fuzzRecordsMax bounds the records one log input may yield.
const fuzzRecordsMax = 1 << 16

func FuzzDecodeEntry(f *testing.F) {
	digest := int64(0x5eed)
	for i, p := range history() {
		f.Add(p)
		if i%3 == 0 {
			f.Add(append(bytes.Clone(p), 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x5e, 0xed))
		}
	}
	f.Add(zktest.Txn(zktest.Header{Zxid: 1, Type: jute.OpCloseSession}, nil, &digest))
	f.Add(zktest.Txn(zktest.Header{Zxid: 1, Type: jute.OpCreate}, zktest.CreateV0("/v0", nil, nil, true), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrBadRecord nor ErrUnsupported", err)
			}
			return
		}
		// Whatever decodes is a transaction zkd's own log can hold.
		var w jute.Writer
		e.Txn.Encode(&w)
		back, err := tree.DecodeTxn(w.B)
		if err != nil || !reflect.DeepEqual(back, e.Txn) {
			t.Fatalf("zkd encoding round trip: %v\n got %+v\nwant %+v", err, back, e.Txn)
		}
		// And applying it to a tree keeps the tree whole.
		tr := tree.New()
		tr.Apply(&e.Txn, nil)
		_ = tr.Digest()
	})
}

func FuzzLogReader(f *testing.F) {
	var recs [][]byte
	for _, p := range history() {
		recs = append(recs, zktest.Record(p))
	}
	f.Add(zktest.Log(64, recs...))
	f.Add(zktest.Log(0, recs[:3]...))
	f.Add(zktest.Log(16, testRecords(5)...)[:150])
	f.Fuzz(func(t *testing.T, b []byte) {
		lr, err := NewLogReader(bytes.NewReader(b), "log.fuzz")
		if err != nil {
			return
		}
		last := int64(-1)
		for range fuzzRecordsMax {
			rec, err := lr.Next()
			if err == io.EOF {
				if end := lr.End(); end == nil || end.Offset <= last || end.Offset > int64(len(b)) {
					t.Fatalf("end %+v after a record at %d in %d bytes", end, last, len(b))
				}
				return
			}
			if err != nil {
				return
			}
			if rec.Offset <= last || rec.Offset+int64(len(rec.Payload))+13 > int64(len(b)) {
				t.Fatalf("record at %d (%d bytes) after one at %d in %d bytes", rec.Offset, len(rec.Payload), last, len(b))
			}
			last = rec.Offset
			_, _ = DecodeEntry(rec.Payload)
		}
		t.Fatalf("more than %d records in %d bytes", fuzzRecordsMax, len(b))
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(testSnapshot().Bytes())
	f.Add(snapshotOf(tree.New()).Bytes())
	last := int64(3)
	s := testSnapshot()
	s.LastZxid = &last
	f.Add(s.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		builder := tree.NewBuilder()
		snap, err := DecodeSnapshot(bytes.NewReader(b), "snapshot.fuzz", func(n *SnapNode) error {
			return builder.AddNode(n.Path, n.Data, n.ACL, n.Stat)
		})
		if err != nil {
			return
		}
		for _, s := range snap.Sessions {
			if builder.AddSession(s.ID, s.TimeoutMs) != nil {
				return
			}
		}
		tr, err := builder.Tree(1)
		if err != nil {
			return
		}
		if tr.NodeCount() != snap.Nodes {
			t.Fatalf("tree holds %d nodes, the snapshot %d", tr.NodeCount(), snap.Nodes)
		}
		_ = Digest(tr, false)
	})
}

func FuzzSnappyReader(f *testing.F) {
	raw := testSnapshot().Bytes()
	f.Add(zktest.Snappy(raw, 100))
	f.Add(append(zktest.Snappy(raw[:50], 9), zktest.Snappy(raw[50:], 4096)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewSnappyReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		// A chunk decodes to at most snappyChunkBytesMax, and every chunk
		// takes at least 5 bytes of input.
		limit := int64(len(b)/5+1) * snappyChunkBytesMax
		n, _ := io.Copy(io.Discard, io.LimitReader(r, limit+1))
		if n > limit {
			t.Fatalf("%d bytes from %d", n, len(b))
		}
	})
}
