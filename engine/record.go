package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"zkd/netio/jute"
	"zkd/tree"
)

// Key and record format (doc.go explains why it is safe):
//
//	key   = zxid as 8 bytes big-endian (uint64; zxids are in [1, MaxInt64])
//	value = crc32c(payload) as 4 bytes big-endian, then payload
//	payload = tree.Txn.Encode
const (
	keyBytes = 8
	crcBytes = 4
)

// castagnoli is CRC-32C, the checksum with hardware support on amd64 and
// arm64 (and the one pebble uses for its own blocks).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// keyEnd sorts after every 8-byte key: an exclusive upper bound that
// includes zxid MaxInt64.
var keyEnd = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}

// appendKey appends zxid's key to dst.
func appendKey(dst []byte, zxid int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(zxid))
}

// keyZxid decodes a key; ok is false for a key that is not 8 bytes or
// names a zxid outside [1, MaxInt64].
func keyZxid(k []byte) (zxid int64, ok bool) {
	if len(k) != keyBytes {
		return 0, false
	}
	zxid = int64(binary.BigEndian.Uint64(k))
	return zxid, zxid > 0
}

// upperKey returns the exclusive upper bound for keys <= zxid.
func upperKey(zxid int64) []byte {
	if zxid == 1<<63-1 {
		return keyEnd
	}
	return appendKey(nil, zxid+1)
}

// encodeRecord replaces w's buffer with x's record value: the checksum
// slot, then the payload, then the checksum filled in.
func encodeRecord(w *jute.Writer, x *tree.Txn) []byte {
	w.B = append(w.B[:0], 0, 0, 0, 0)
	x.Encode(w)
	binary.BigEndian.PutUint32(w.B, crc32.Checksum(w.B[crcBytes:], castagnoli))
	return w.B
}

// decodeRecord checks and decodes the value stored under zxid's key. The
// decoded txn must carry the key's zxid: a record moved under another key
// is as corrupt as one with a bad checksum.
func decodeRecord(zxid int64, v []byte) (tree.Txn, error) {
	if len(v) < crcBytes {
		return tree.Txn{}, &CorruptError{Zxid: zxid, Reason: fmt.Sprintf("record of %d bytes is shorter than its checksum", len(v))}
	}
	want := binary.BigEndian.Uint32(v)
	if got := crc32.Checksum(v[crcBytes:], castagnoli); got != want {
		return tree.Txn{}, &CorruptError{Zxid: zxid, Reason: fmt.Sprintf("checksum %08x, stored %08x", got, want)}
	}
	x, err := tree.DecodeTxn(v[crcBytes:])
	if err != nil {
		return tree.Txn{}, &CorruptError{Zxid: zxid, Reason: err.Error()}
	}
	if x.Zxid != zxid {
		return tree.Txn{}, &CorruptError{Zxid: zxid, Reason: fmt.Sprintf("record carries zxid %s", Zxid(x.Zxid))}
	}
	return x, nil
}

// Sentinel errors. Every error the Log returns for these conditions wraps
// one of them (errors.Is).
var (
	// ErrCorrupt: a stored record fails its checksum or does not decode,
	// or the store's shape is impossible (see CorruptError).
	ErrCorrupt = errors.New("engine: log corrupt")
	// ErrOutOfOrder: an Append carried a zxid <= LastZxid (or <= an
	// earlier zxid of the same call); nothing of that call was written.
	ErrOutOfOrder = errors.New("engine: zxid out of order")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("engine: log closed")
	// ErrFailed: pebble failed in a way it cannot continue from (it
	// panicked with its locks held); every later call returns this.
	ErrFailed = errors.New("engine: log failed")
)

// CorruptError is the typed corruption error: it names the record.
type CorruptError struct {
	// Zxid is the zxid of the bad record's key; 0 when the key itself is
	// bad or pebble reported corruption without a key.
	Zxid   int64
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Zxid == 0 {
		return "engine: log corrupt: " + e.Reason
	}
	return fmt.Sprintf("engine: log corrupt at zxid %s: %s", Zxid(e.Zxid), e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Zxid formats a zxid as ZooKeeper logs do (hex: epoch in the high 32
// bits, counter in the low).
type Zxid int64

func (z Zxid) String() string { return fmt.Sprintf("0x%x", int64(z)) }

// assertf panics with a message when an invariant of this package is
// broken. Operating errors (disk, corruption) are returned, never asserted.
func assertf(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("engine: invariant broken: "+format, args...))
	}
}
