package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

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
// It is a zab.SnapshotSource (Snapshot).
//
// # Snapshots
//
// The newest snapshot is in dir/snapshot (format in snapfile.go), replaced
// atomically like the hard state, with the generation g of the log that
// continues it: dir/log for g = 0, dir/log.<g> after. Restart starts the
// core at the snapshot's zxid z with the records of log g above z.
//
//   - SaveSnapshot (the server's own snapshot at z) keeps g, then purges
//     the records before z. The records above z continue the snapshot: the
//     log holds one history, the snapshot is of applied (so committed and
//     durable) entries of it, and TRUNC never cuts below the commit point.
//     A crash before the purge leaves records <= z, which Restart skips.
//   - A leader's SNAP (Persist) writes the snapshot with g+1 and only then
//     switches to the new, empty log g+1 and deletes log g. The rename is
//     the one step that drops the whole old log, so a crash leaves either
//     the old snapshot with log g, or the new one with log g+1 (empty, or
//     with some of the entries appended after the snapshot): never the new
//     snapshot with old records. Those must not survive, not even the ones
//     above z: a SNAP goes to a follower whose log lags or left the
//     leader's history before the leader's log start, so its records above
//     z can be from another history (say uncommitted entries of a failed
//     epoch; a committed one would be in the leader's history, and the
//     leader would not need a SNAP below it); kept after the snapshot they
//     would make a log no leader ever had. Losing them is safe: the
//     core's contract lets a crash leave any prefix of the Ready (here the
//     snapshot alone; its entries and hard state come after, and nothing of
//     it was acknowledged), and TruncateAfter(0) in place of the switch
//     would leave a window in which nothing tells stale records from new.
//
// A crash while a snapshot file is written leaves only a temp file (the
// rename had not happened, so the old snapshot and log are in force);
// Open deletes it. A damaged dir/snapshot cannot come from a crash (it is
// renamed into place whole and synced), so it means the disk lost or
// changed data: Open fails with an error naming the file (ErrCorruptSnapshot)
// rather than start empty and lose committed state, even with a temp file
// beside it: a temp is a write that never took effect and proves nothing
// about the lost one. The operator decides (e.g. empty the directory and
// let a leader SNAP the server).
//
// Costs: Open reads and checks the snapshot file whole (it decides which
// log directory to delete), and Restart reads it again; Snapshot reads it
// each time. Installing a SNAP reopens the log.
//
// Methods are safe for concurrent use. SaveSnapshot writes its file
// without holding up Persist; only the rename and purge wait for it.
type EngineStorage struct {
	dir string
	mu  struct {
		sync.Mutex
		log      *engine.Log
		logGen   uint64
		hard     zab.HardState
		hasSnap  bool
		snapZxid zab.Zxid
	}
}

// Errors from SaveSnapshot and Snapshot.
var (
	// ErrSnapshotStale answers a SaveSnapshot that a newer snapshot
	// (installed or saved meanwhile) overtook; nothing was written.
	ErrSnapshotStale = errors.New("replica: a newer snapshot is stored")
	// ErrNoSnapshot answers Snapshot when none is stored: the leader's
	// core then skips that follower's sync (and logs why); the follower
	// times out and tries again.
	ErrNoSnapshot = errors.New("replica: no snapshot stored")
)

const (
	hardStateFile  = "hardstate"
	hardStateBytes = 4 + 8 + 4 + 4 // accepted epoch, accepted leader, current epoch, CRC-32C
	logDirName     = "log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func logDir(gen uint64) string {
	if gen == 0 {
		return logDirName
	}
	return fmt.Sprintf("%s.%d", logDirName, gen)
}

// OpenEngineStorage opens (or creates) the storage in dir: the log in
// dir/log (or the generation the snapshot names), the hard state in
// dir/hardstate, the snapshot in dir/snapshot. It deletes what a crash
// can leave behind: temp files and the logs of other generations.
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
		if s.mu.hard, err = decodeHardState(b); err != nil {
			return nil, err
		}
	}
	f, ok, err := readSnapshotFile(dir)
	if err != nil {
		return nil, err
	}
	s.mu.hasSnap, s.mu.snapZxid, s.mu.logGen = ok, f.Zxid, f.logGen
	if err := removeLeftovers(dir, f.logGen, ok); err != nil {
		return nil, err
	}
	if s.mu.log, err = openLog(dir, f.logGen); err != nil {
		return nil, err
	}
	return s, nil
}

// removeLeftovers deletes temp files and the log directories other than
// gen's. A log of a later generation without a snapshot file means the
// snapshot was lost: an error, as a damaged one is.
func removeLeftovers(dir string, gen uint64, hasSnap bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name, path := e.Name(), filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(name, snapFileName+".tmp"), strings.HasPrefix(name, hardStateFile+".tmp"):
			err = os.Remove(path)
		case name == logDir(gen) || !isLogDir(name):
		case !hasSnap:
			return fmt.Errorf("replica: %s is the log after a snapshot, but %s is missing", path, filepath.Join(dir, snapFileName))
		default:
			err = os.RemoveAll(path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isLogDir(name string) bool {
	n, ok := strings.CutPrefix(name, logDirName+".")
	if !ok {
		return name == logDirName
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

// openLog opens log gen and syncs dir, so a log directory just created
// survives a crash along with what is appended to it.
func openLog(dir string, gen uint64) (*engine.Log, error) {
	log, err := engine.OpenLog(engine.LogOptions{Dir: filepath.Join(dir, logDir(gen))})
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		log.Close()
		return nil, err
	}
	return log, nil
}

// LogStats reports the log's counters since it opened (mntr's
// zk_log_txns and zk_log_syncs); a SNAP install starts them afresh.
func (s *EngineStorage) LogStats() engine.LogStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.log.Stats()
}

// Close closes the log.
func (s *EngineStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.log.Close()
}

// EncodeEntry encodes x as an entry's Data.
func EncodeEntry(x *tree.Txn) []byte {
	w := jute.Writer{B: make([]byte, 0, x.SizeHint())}
	x.Encode(&w)
	return w.B
}

// DecodeEntry decodes an entry's Data, with the entry's zxid. The txn's
// data aliases e.Data, which nothing changes (entries are immutable).
func DecodeEntry(e zab.Entry) (tree.Txn, error) {
	x, err := tree.DecodeTxnShared(e.Data)
	if err != nil {
		return tree.Txn{}, fmt.Errorf("replica: entry %v: %w", e.Zxid, err)
	}
	x.Zxid = int64(e.Zxid)
	for i := range x.Ops {
		x.Ops[i].Zxid = x.Zxid
	}
	return x, nil
}

// Persist makes rd durable: the snapshot (see EngineStorage), the
// truncation, the entries (one group commit), then the hard state.
func (s *EngineStorage) Persist(rd *zab.Ready) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd.Snapshot != nil {
		if err := s.installLocked(*rd.Snapshot); err != nil {
			return err
		}
	}
	if rd.Truncate {
		if err := s.mu.log.TruncateAfter(int64(rd.TruncateAfter)); err != nil {
			return err
		}
	}
	if len(rd.Entries) > 0 {
		// Logged as they came, not decoded and encoded again: an entry is
		// an encoded txn whose leading zxid is the entry's (checked).
		recs := make([]engine.Record, len(rd.Entries))
		for i, e := range rd.Entries {
			recs[i] = engine.Record{Zxid: int64(e.Zxid), Payload: e.Data}
		}
		if err := s.mu.log.AppendRecords(recs); err != nil {
			return err
		}
	}
	if rd.HardState != nil && *rd.HardState != s.mu.hard {
		if err := s.writeHardState(*rd.HardState); err != nil {
			return err
		}
		s.mu.hard = *rd.HardState
	}
	return nil
}

// installLocked stores a leader's snapshot and switches to an empty log of
// the next generation.
func (s *EngineStorage) installLocked(snap zab.Snapshot) error {
	gen := s.mu.logGen + 1
	head, tail := encodeSnapshotFile(snapFile{Snapshot: snap, logGen: gen})
	tmp, err := writeTemp(s.dir, snapFileName, head, snap.Data, tail)
	if err != nil {
		return err
	}
	if err := commitTemp(tmp, s.dir, snapFileName); err != nil {
		return err
	}
	// The old log is dead from here, whatever its Close says. If the new
	// one fails to open, s.mu.log stays the closed old one: every later
	// call fails, and the next Open finds log gen.
	s.mu.hasSnap, s.mu.snapZxid, s.mu.logGen = true, snap.Zxid, gen
	s.mu.log.Close()
	log, err := openLog(s.dir, gen)
	if err != nil {
		return err
	}
	s.mu.log = log
	// Best effort: the snapshot no longer names it, and Open deletes it.
	os.RemoveAll(filepath.Join(s.dir, logDir(gen-1)))
	return nil
}

// SaveSnapshot stores snap, the state machine's state after applying
// every committed entry up to snap.Zxid, as the newest snapshot, then
// drops the log records before it. Call it only with applied (so durable)
// entries; afterwards the caller may Compact the core to snap.Zxid. A
// snapshot older than the stored one fails with ErrSnapshotStale.
func (s *EngineStorage) SaveSnapshot(snap zab.Snapshot) error {
	s.mu.Lock()
	gen, floor, last := s.mu.logGen, s.mu.snapZxid, zab.Zxid(s.mu.log.LastZxid())
	s.mu.Unlock()
	if snap.Zxid < floor {
		return fmt.Errorf("%w: saving %v, stored %v", ErrSnapshotStale, snap.Zxid, floor)
	}
	if snap.Zxid > max(floor, last) {
		return fmt.Errorf("replica: snapshot at %v is beyond the durable log (last %v)", snap.Zxid, max(floor, last))
	}
	// Written unlocked: a large snapshot must not hold up Persist.
	head, tail := encodeSnapshotFile(snapFile{Snapshot: snap, logGen: gen})
	tmp, err := writeTemp(s.dir, snapFileName, head, snap.Data, tail)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.logGen != gen || snap.Zxid < s.mu.snapZxid {
		// A SNAP was installed meanwhile: its log does not continue ours.
		os.Remove(tmp)
		return fmt.Errorf("%w: saving %v, stored %v", ErrSnapshotStale, snap.Zxid, s.mu.snapZxid)
	}
	if err := commitTemp(tmp, s.dir, snapFileName); err != nil {
		return err
	}
	s.mu.hasSnap, s.mu.snapZxid = true, snap.Zxid
	// PurgeBefore keeps the record at snap.Zxid (the engine's rule for its
	// own, fuzzy snapshots); Restart skips it.
	if err := s.mu.log.PurgeBefore(int64(snap.Zxid)); err != nil {
		return fmt.Errorf("replica: snapshot at %v saved, but purging the log before it: %w", snap.Zxid, err)
	}
	return nil
}

// Snapshot returns the newest stored snapshot (zab.SnapshotSource), read
// from its file, or ErrNoSnapshot. It needs no lock: the file is always
// whole, and one replaced while it is read stays readable.
func (s *EngineStorage) Snapshot() (zab.Snapshot, error) {
	f, ok, err := readSnapshotFile(s.dir)
	if err != nil {
		return zab.Snapshot{}, err
	}
	if !ok {
		return zab.Snapshot{}, ErrNoSnapshot
	}
	return f.Snapshot, nil
}

// RestartWithSnapshot fills cfg's restart state from disk and returns the
// snapshot to restore the state machine from (nil when there is none):
// the hard state; LogStart and Applied at the snapshot's zxid (0 without
// one); the log's entries after it as the durable entries. The state
// machine starts from the snapshot (empty without one) and the core hands
// the committed entries after it out again.
func (s *EngineStorage) RestartWithSnapshot(cfg *zab.Config) (*zab.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.HardState = s.mu.hard
	cfg.LogStart, cfg.Applied = 0, 0
	cfg.Entries = cfg.Entries[:0]
	var snap *zab.Snapshot
	if s.mu.hasSnap {
		f, ok, err := readSnapshotFile(s.dir)
		if err != nil {
			return nil, err
		}
		if !ok || f.Zxid != s.mu.snapZxid || f.logGen != s.mu.logGen {
			return nil, fmt.Errorf("replica: %s changed under the storage (want zxid %v, log %d)",
				filepath.Join(s.dir, snapFileName), s.mu.snapZxid, s.mu.logGen)
		}
		snap = &f.Snapshot
		cfg.LogStart, cfg.Applied = snap.Zxid, snap.Zxid
	}
	err := s.mu.log.Read(int64(cfg.LogStart)+1, s.mu.log.LastZxid(), func(x *tree.Txn) error {
		cfg.Entries = append(cfg.Entries, zab.Entry{Zxid: zab.Zxid(x.Zxid), Data: EncodeEntry(x)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Restart is RestartWithSnapshot for a caller with no snapshot to
// restore: it fails when one is stored, since a state machine started
// empty at Applied = the snapshot's zxid would lack everything in it.
func (s *EngineStorage) Restart(cfg *zab.Config) error {
	snap, err := s.RestartWithSnapshot(cfg)
	if err == nil && snap != nil {
		err = fmt.Errorf("replica: %s holds a snapshot at %v: restart with RestartWithSnapshot and restore it", s.dir, snap.Zxid)
	}
	return err
}

func (s *EngineStorage) writeHardState(h zab.HardState) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(h.AcceptedEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(h.AcceptedLeader))
	b = binary.BigEndian.AppendUint32(b, uint32(h.CurrentEpoch))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp, err := writeTemp(s.dir, hardStateFile, b)
	if err != nil {
		return err
	}
	return commitTemp(tmp, s.dir, hardStateFile)
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
