package zkimport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	logMagic     = 0x5a4b4c47 // "ZKLG"
	snapMagic    = 0x5a4b534e // "ZKSN"
	fileVersion  = 2          // the only version ZooKeeper 3.x writes
	eorByte      = 'B'        // ends every log record
	fileHdrBytes = 16         // FileHeader: int magic, int version, long dbid
)

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("zkimport: corrupt file")

// CorruptError is a ZooKeeper file that fails its checks where it should
// not: a bad magic, a snapshot whose checksum or structure is wrong, a log
// record that fails its checksum with more data after it.
type CorruptError struct {
	File   string
	Offset int64 // of the file's uncompressed stream
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("zkimport: %s: corrupt at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// LogRecord is one record of a log file.
type LogRecord struct {
	Offset  int64  // where the record starts in the file
	Payload []byte // checked; valid until the next call to Next
}

// Zxid is the zxid in the record's TxnHeader, read without decoding the
// rest; ok is false when the payload is too short to hold a header.
func (r LogRecord) Zxid() (zxid int64, ok bool) {
	if len(r.Payload) < txnHeaderBytes {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(r.Payload[12:20])), true
}

// LogEnd says where and how a log file's records ended.
type LogEnd struct {
	Offset int64 // the end of the last good record
	// Torn is true when a record was cut short or failed its checks with
	// nothing but zero bytes after it: a write that was in progress when
	// the server stopped, never acknowledged, and dropped as ZooKeeper
	// drops it. Reason says what was wrong with it.
	Torn   bool
	Reason string
}

// LogReader reads the records of one ZooKeeper transaction log file
// (version-2/log.<zxid of its first record, hex>):
//
//	file    = FileHeader{int magic "ZKLG", int version 2, long dbid}, record*, zero padding
//	record  = long checksum (Adler-32 of payload), int n, n bytes payload, byte 'B'
//	payload = TxnHeader, txn record, [TxnDigest]        (see DecodeEntry)
//
// ZooKeeper preallocates log files with zeros, so the records end at a
// zero length. A record that is cut short by the end of the file, or that
// fails its checksum or lacks its 'B', ends the file as a torn write when
// only zero bytes follow it; with anything else after it, it is
// corruption (*CorruptError naming the file and the record's offset).
type LogReader struct {
	name string
	s    *stream
	dbid int64
	end  *LogEnd
	err  error // sticky
}

// NewLogReader reads the file header of the log r, named name in errors.
func NewLogReader(r io.Reader, name string) (*LogReader, error) {
	s := newStream(r)
	magic, version, dbid := s.int32(), s.int32(), s.int64()
	switch {
	case s.err == errShort:
		return nil, &CorruptError{File: name, Offset: 0, Reason: "shorter than a log file header"}
	case s.err != nil:
		return nil, fmt.Errorf("zkimport: reading %s: %w", name, s.err)
	case magic != logMagic:
		return nil, &CorruptError{File: name, Offset: 0, Reason: fmt.Sprintf("magic %#x, not a ZooKeeper log (ZKLG)", uint32(magic))}
	case version != fileVersion:
		return nil, &CorruptError{File: name, Offset: 4, Reason: fmt.Sprintf("log format version %d, only %d is known", version, fileVersion)}
	}
	return &LogReader{name: name, s: s, dbid: dbid}, nil
}

// DBID is the file header's database id (0 in every ZooKeeper 3.x log).
func (l *LogReader) DBID() int64 { return l.dbid }

// End reports how the records ended; it is nil until Next returned io.EOF.
func (l *LogReader) End() *LogEnd { return l.end }

// Next returns the next record that passes its checks (DecodeEntry
// decodes its payload); io.EOF once the records have ended (see End).
// Corruption is a *CorruptError naming the file and the record's offset.
// Errors stick.
func (l *LogReader) Next() (LogRecord, error) {
	if l.err != nil {
		return LogRecord{}, l.err
	}
	if l.end != nil {
		return LogRecord{}, io.EOF
	}
	s := l.s
	at := s.off
	if s.atEOF() {
		return l.finish(at, false, "")
	}
	crc := s.int64()
	n := s.int32()
	if s.err == errShort {
		return l.finish(at, true, "record header cut short by the end of the file")
	}
	if s.err != nil {
		return LogRecord{}, l.readErr(at, s.err)
	}
	if n == 0 {
		// The preallocated zeros after the last record (a non-zero
		// checksum with a zero length is a torn header).
		return l.bad(at, crc != 0, "zero length")
	}
	if n < 0 || n > bufferBytesMax {
		return l.bad(at, true, fmt.Sprintf("record length %d", n))
	}
	payload := s.bytes(int(n))
	var eor [1]byte
	s.read(eor[:])
	if s.err == errShort {
		return l.finish(at, true, fmt.Sprintf("record of %d bytes cut short by the end of the file", n))
	}
	if s.err != nil {
		return LogRecord{}, l.readErr(at, s.err)
	}
	if eor[0] != eorByte {
		return l.bad(at, true, fmt.Sprintf("end-of-record byte %#x, not 'B'", eor[0]))
	}
	if sum := adler32(payload); crc != int64(sum) {
		return l.bad(at, true, fmt.Sprintf("checksum %#x, record holds %#x", sum, crc))
	}
	return LogRecord{Offset: at, Payload: payload}, nil
}

// bad ends the records at a record that is not one: a torn write (or,
// for a zero length, the clean end) when only zeros follow, corruption
// otherwise.
func (l *LogReader) bad(at int64, torn bool, reason string) (LogRecord, error) {
	zero, nonZero, err := l.s.restZero()
	if err != nil {
		return LogRecord{}, l.readErr(at, err)
	}
	if zero {
		if !torn {
			reason = ""
		}
		return l.finish(at, torn, reason)
	}
	err = &CorruptError{File: l.name, Offset: at, Reason: fmt.Sprintf(
		"%s, and non-zero bytes follow at offset %d (if ZooKeeper crashed while writing this file, nothing from offset %d on was acknowledged: cut the file there to import what comes before)",
		reason, nonZero, at)}
	l.err = err
	return LogRecord{}, err
}

func (l *LogReader) finish(at int64, torn bool, reason string) (LogRecord, error) {
	l.end = &LogEnd{Offset: at, Torn: torn, Reason: reason}
	return LogRecord{}, io.EOF
}

func (l *LogReader) readErr(at int64, err error) error {
	l.err = fmt.Errorf("zkimport: reading %s at offset %d: %w", l.name, at, err)
	return l.err
}
