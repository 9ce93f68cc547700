package engine

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/netio/jute"
	"zkd/tree/treetest"
)

// Fuzz targets for the decoders of what the engine reads back from disk.
// Records and snapshots are checksummed, so random damage stops at the
// checksum. These targets also hand the decoders damaged bytes under a
// correct checksum (a bad write by a buggy build, or a collision): that
// must give a corruption error, never a panic or an unbounded allocation.

// FuzzDecodeRecord decodes a log record stored under zxid's key. With
// reseal set, data gets a correct checksum in front of it first.
func FuzzDecodeRecord(f *testing.F) {
	var w jute.Writer
	for _, x := range treetest.History(rand.New(rand.NewPCG(1, 1)), 40, 16) {
		rec := encodeRecord(&w, &x)
		f.Add(false, x.Zxid, append([]byte(nil), rec...))
		f.Add(true, x.Zxid, append([]byte(nil), rec[crcBytes:]...))
		f.Add(true, x.Zxid+1, append([]byte(nil), rec[crcBytes:]...)) // under another key
	}
	f.Add(false, int64(1), []byte{})
	f.Add(true, int64(1), []byte{})
	f.Fuzz(func(t *testing.T, reseal bool, zxid int64, data []byte) {
		if reseal {
			data = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli))
		}
		x, err := decodeRecord(zxid, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if x.Zxid != zxid {
			t.Fatalf("record under %#x decoded as zxid %#x", zxid, x.Zxid)
		}
		// What decodes re-encodes to the same record.
		if again := encodeRecord(&w, &x); string(again) != string(data) {
			t.Fatalf("decoded %+v re-encodes to %x, not %x", x, again, data)
		}
	})
}

// FuzzReadSnapshotFile restores the snapshot file named for zxid. With
// whole set, data is the file; otherwise data is its body, framed with a
// correct header and trailer, so that the zstd decoder and the tree's
// restore see it.
func FuzzReadSnapshotFile(f *testing.F) {
	mem := vfs.NewMem()
	if err := mem.MkdirAll("seed", 0o755); err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 3, 60} {
		tr := snapTree(treetest.History(rand.New(rand.NewPCG(uint64(n), 2)), n, 24))
		name := snapWrite(f, mem, "seed", tr, 0)
		file := snapReadFile(f, mem, mem.PathJoin("seed", name))
		f.Add(true, tr.LastZxid(), file)
		f.Add(false, tr.LastZxid(), file[snapHeaderBytes:len(file)-snapTrailerBytes])
	}
	f.Add(false, int64(1), []byte{})
	f.Add(true, int64(1), []byte{})
	f.Fuzz(func(t *testing.T, whole bool, zxid int64, data []byte) {
		zxid &= 1<<63 - 1 // a name SnapshotName can give
		file := data
		if !whole {
			file = append(snapHeader(zxid), data...)
			file = append(file, snapTrailer(uint64(len(data)), crc32.Checksum(data, snapCRC), zxid)...)
		}
		fs := vfs.NewMem()
		path := SnapshotName(zxid)
		snapWriteFile(t, fs, path, file)
		tr, start, err := ReadSnapshotFile(fs, path)
		if err != nil {
			if !errors.Is(err, ErrSnapshotCorrupt) {
				t.Fatalf("error %v is not ErrSnapshotCorrupt", err)
			}
			return
		}
		if start != zxid {
			t.Fatalf("restored a snapshot starting at %#x from a file named for %#x", start, zxid)
		}
		// What restores can be snapshotted again and restores the same.
		if err := fs.MkdirAll("again", 0o755); err != nil {
			t.Fatal(err)
		}
		name, _, err := WriteSnapshot(fs, "again", tr, snapNoLock, 0)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := ReadSnapshotFile(fs, fs.PathJoin("again", name))
		if err != nil {
			t.Fatalf("re-written snapshot: %v", err)
		}
		if again.Digest() != tr.Digest() || again.NodeCount() != tr.NodeCount() {
			t.Fatalf("re-written snapshot restores to digest %x (%d nodes), not %x (%d)",
				again.Digest(), again.NodeCount(), tr.Digest(), tr.NodeCount())
		}
	})
}
