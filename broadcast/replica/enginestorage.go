package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"zkd/broadcast/zab"
	"zkd/engine"
	"zkd/netio/jute"
	"zkd/tree"
)

// EngineStorage is a durable Storage: entries go to an engine.Log (one
// record per entry, keyed by its zxid, one fsync per Ready) and the hard
// state to a small file beside it, replaced atomically (written, synced,
// renamed, directory synced). An entry's Data is an encoded tree.Txn
// (EncodeEntry); its zxid is the entry's, whatever the encoding says.
//
// Not yet: a Ready carrying a Snapshot (a leader's SNAP) fails with
// ErrSnapshotUnsupported, which stops the replica; snapshots and Compact
// come with the server's wiring.
type EngineStorage struct {
	log  *engine.Log
	dir  string
	hard zab.HardState
}

// ErrSnapshotUnsupported answers a Ready that installs a snapshot.
var ErrSnapshotUnsupported = errors.New("replica: installing a snapshot is not supported yet")

const (
	hardStateFile  = "hardstate"
	hardStateBytes = 4 + 8 + 4 + 4 // accepted epoch, accepted leader, current epoch, CRC-32C
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenEngineStorage opens (or creates) the storage in dir: the log in
// dir/log, the hard state in dir/hardstate.
func OpenEngineStorage(dir string) (*EngineStorage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &EngineStorage{dir: dir}
	switch b, err := os.ReadFile(filepath.Join(dir, hardStateFile)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if s.hard, err = decodeHardState(b); err != nil {
			return nil, err
		}
	}
	log, err := engine.OpenLog(engine.LogOptions{Dir: filepath.Join(dir, "log")})
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

// Close closes the log.
func (s *EngineStorage) Close() error { return s.log.Close() }

// EncodeEntry encodes x as an entry's Data.
func EncodeEntry(x *tree.Txn) []byte {
	var w jute.Writer
	x.Encode(&w)
	return w.B
}

// DecodeEntry decodes an entry's Data, with the entry's zxid.
func DecodeEntry(e zab.Entry) (tree.Txn, error) {
	x, err := tree.DecodeTxn(e.Data)
	if err != nil {
		return tree.Txn{}, fmt.Errorf("replica: entry %v: %w", e.Zxid, err)
	}
	x.Zxid = int64(e.Zxid)
	for i := range x.Ops {
		x.Ops[i].Zxid = x.Zxid
	}
	return x, nil
}

// Persist makes rd durable: truncation, entries (one group commit), then
// the hard state.
func (s *EngineStorage) Persist(rd *zab.Ready) error {
	if rd.Snapshot != nil {
		return ErrSnapshotUnsupported
	}
	if rd.Truncate {
		if err := s.log.TruncateAfter(int64(rd.TruncateAfter)); err != nil {
			return err
		}
	}
	if len(rd.Entries) > 0 {
		txns := make([]tree.Txn, len(rd.Entries))
		for i, e := range rd.Entries {
			x, err := DecodeEntry(e)
			if err != nil {
				return err
			}
			txns[i] = x
		}
		if err := s.log.Append(txns); err != nil {
			return err
		}
	}
	if rd.HardState != nil && *rd.HardState != s.hard {
		if err := s.writeHardState(*rd.HardState); err != nil {
			return err
		}
		s.hard = *rd.HardState
	}
	return nil
}

// Restart fills cfg's restart state from disk: the hard state, and every
// entry of the log as durable entries after LogStart 0 (no snapshots yet),
// with Applied 0: the state machine starts empty and the core hands the
// committed entries out again.
func (s *EngineStorage) Restart(cfg *zab.Config) error {
	cfg.HardState = s.hard
	cfg.LogStart, cfg.Applied = 0, 0
	cfg.Entries = cfg.Entries[:0]
	return s.log.Read(1, s.log.LastZxid(), func(x *tree.Txn) error {
		cfg.Entries = append(cfg.Entries, zab.Entry{Zxid: zab.Zxid(x.Zxid), Data: EncodeEntry(x)})
		return nil
	})
}

func (s *EngineStorage) writeHardState(h zab.HardState) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(h.AcceptedEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(h.AcceptedLeader))
	b = binary.BigEndian.AppendUint32(b, uint32(h.CurrentEpoch))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(s.dir, hardStateFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, hardStateFile)); err != nil {
		return err
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func decodeHardState(b []byte) (zab.HardState, error) {
	if len(b) != hardStateBytes {
		return zab.HardState{}, fmt.Errorf("replica: hard state file of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	body := b[:hardStateBytes-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[hardStateBytes-4:]) {
		return zab.HardState{}, errors.New("replica: hard state file fails its checksum")
	}
	return zab.HardState{
		AcceptedEpoch:  zab.Epoch(binary.BigEndian.Uint32(body)),
		AcceptedLeader: zab.ID(binary.BigEndian.Uint64(body[4:])),
		CurrentEpoch:   zab.Epoch(binary.BigEndian.Uint32(body[12:])),
	}, nil
}
