package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"zkd/broadcast/zab"
)

// The snapshot file holds one zab.Snapshot and the generation of the log
// that continues it (see EngineStorage). Big-endian:
//
//	magic    uint32  0x7a6b534e ("zkSN")
//	version  uint32  1
//	zxid     uint64  the snapshot's
//	logGen   uint64  the log directory holding the entries after zxid
//	dataLen  uint64
//	data     dataLen bytes: the state machine's, opaque here
//	crc      uint32  CRC-32C of everything before it
//
// The whole file is checked before anything is trusted: the log
// generation decides which log directories Open deletes.
const (
	snapFileName    = "snapshot"
	snapMagic       = 0x7a6b534e
	snapVersion     = 1
	snapHeaderBytes = 4 + 4 + 8 + 8 + 8
	snapCRCBytes    = 4
)

// ErrCorruptSnapshot is wrapped by the errors for a snapshot file that is
// torn, damaged or not a snapshot file.
var ErrCorruptSnapshot = errors.New("replica: corrupt snapshot file")

type snapFile struct {
	zab.Snapshot
	logGen uint64
}

// encodeSnapshotFile returns the bytes before and after f.Data, so a large
// snapshot is written without a copy.
func encodeSnapshotFile(f snapFile) (head, tail []byte) {
	head = binary.BigEndian.AppendUint32(make([]byte, 0, snapHeaderBytes), snapMagic)
	head = binary.BigEndian.AppendUint32(head, snapVersion)
	head = binary.BigEndian.AppendUint64(head, uint64(f.Zxid))
	head = binary.BigEndian.AppendUint64(head, f.logGen)
	head = binary.BigEndian.AppendUint64(head, uint64(len(f.Data)))
	crc := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, f.Data)
	return head, binary.BigEndian.AppendUint32(nil, crc)
}

// decodeSnapshotFile checks and decodes a whole snapshot file. Data
// aliases b.
func decodeSnapshotFile(b []byte) (snapFile, error) {
	if len(b) < snapHeaderBytes+snapCRCBytes {
		return snapFile{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorruptSnapshot, len(b))
	}
	// The checksum first: a torn or flipped file then reads as such,
	// whichever field the damage hit.
	body := b[:len(b)-snapCRCBytes]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return snapFile{}, fmt.Errorf("%w: %d bytes that fail their checksum (torn or damaged)", ErrCorruptSnapshot, len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != snapMagic {
		return snapFile{}, fmt.Errorf("%w: magic %#x", ErrCorruptSnapshot, m)
	}
	if v := binary.BigEndian.Uint32(b[4:]); v != snapVersion {
		return snapFile{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrCorruptSnapshot, v, snapVersion)
	}
	if n := binary.BigEndian.Uint64(b[24:]); n != uint64(len(body)-snapHeaderBytes) {
		return snapFile{}, fmt.Errorf("%w: header says %d data bytes, file holds %d", ErrCorruptSnapshot, n, len(body)-snapHeaderBytes)
	}
	return snapFile{
		Snapshot: zab.Snapshot{Zxid: zab.Zxid(binary.BigEndian.Uint64(b[8:])), Data: body[snapHeaderBytes:]},
		logGen:   binary.BigEndian.Uint64(b[16:]),
	}, nil
}

// readSnapshotFile reads dir's snapshot file; ok is false when there is
// none. Errors name the file.
func readSnapshotFile(dir string) (f snapFile, ok bool, err error) {
	path := filepath.Join(dir, snapFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return snapFile{}, false, nil
	}
	if err == nil {
		f, err = decodeSnapshotFile(b)
	}
	if err != nil {
		return snapFile{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return f, true, nil
}

// writeTemp writes chunks to a new synced temp file beside name (a unique
// one, so two writers of the same file do not collide) and returns its
// path; commitTemp puts it in place.
func writeTemp(dir, name string, chunks ...[]byte) (string, error) {
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return "", err
	}
	err = func() error {
		for _, c := range chunks {
			if _, err := f.Write(c); err != nil {
				return err
			}
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// commitTemp renames tmp over dir/name and syncs dir, so after a crash
// the file is either the old one or tmp's content, whole (tmp was synced
// before the rename).
func commitTemp(tmp, dir, name string) error {
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
