package replica

import (
	"fmt"
	"slices"
	"sync"

	"zkd/broadcast/zab"
)

// MemStorage is a Storage in memory, for tests and for trying the
// protocol: "durable" means kept in this struct, so a replica restarted
// from it (Restart) comes back with what it persisted, as after a clean
// stop. It is safe for concurrent use.
type MemStorage struct {
	mu       sync.Mutex
	hard     zab.HardState
	snapshot zab.Snapshot
	entries  []zab.Entry // after snapshot.Zxid, in zxid order
	// installed are the zxids of the snapshots received from a leader
	// (SNAP), oldest first, for tests to see which one came.
	installed []zab.Zxid
	saved     []zab.Zxid // zxids of the snapshots SaveSnapshot kept, oldest first
}

// Persist keeps rd's snapshot, truncation, entries and hard state.
func (s *MemStorage) Persist(rd *zab.Ready) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd.Snapshot != nil {
		s.snapshot = zab.Snapshot{Zxid: rd.Snapshot.Zxid, Data: slices.Clone(rd.Snapshot.Data)}
		s.installed = append(s.installed, rd.Snapshot.Zxid)
		s.entries = s.entries[:0]
	}
	if rd.Truncate {
		i := len(s.entries)
		for i > 0 && s.entries[i-1].Zxid > rd.TruncateAfter {
			i--
		}
		s.entries = s.entries[:i]
	}
	for _, e := range rd.Entries {
		s.entries = append(s.entries, zab.Entry{Zxid: e.Zxid, Data: slices.Clone(e.Data)})
	}
	if rd.HardState != nil {
		s.hard = *rd.HardState
	}
	return nil
}

// SaveSnapshot keeps snap as the newest snapshot and drops the entries it
// covers (broadcast.Snapshotter), as EngineStorage does on disk.
func (s *MemStorage) SaveSnapshot(snap zab.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap.Zxid < s.snapshot.Zxid {
		return fmt.Errorf("%w: saving %v, stored %v", ErrSnapshotStale, snap.Zxid, s.snapshot.Zxid)
	}
	s.snapshot = zab.Snapshot{Zxid: snap.Zxid, Data: slices.Clone(snap.Data)}
	s.saved = append(s.saved, snap.Zxid)
	i := 0
	for i < len(s.entries) && s.entries[i].Zxid <= snap.Zxid {
		i++
	}
	s.entries = slices.Delete(s.entries, 0, i)
	return nil
}

// Snapshot returns the newest snapshot kept (zab.SnapshotSource), or
// ErrNoSnapshot.
func (s *MemStorage) Snapshot() (zab.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snapshot.Zxid == 0 {
		return zab.Snapshot{}, ErrNoSnapshot
	}
	return s.snapshot, nil
}

// Installed lists the zxids of the snapshots a leader sent (SNAP) that
// were persisted here, oldest first.
func (s *MemStorage) Installed() []zab.Zxid {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.installed)
}

// Saved lists the zxids of the snapshots SaveSnapshot kept, oldest first.
func (s *MemStorage) Saved() []zab.Zxid {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.saved)
}

// Stall blocks Persist (and Restart) until the returned release is
// called: a test makes its replica fall behind the others with it.
// Release may be called more than once.
func (s *MemStorage) Stall() (release func()) {
	s.mu.Lock()
	var once sync.Once
	return func() { once.Do(s.mu.Unlock) }
}

// Restart fills cfg's restart state from what s holds: the hard state,
// the snapshot's zxid as the log start and as what the state machine has
// applied (it restarts from the snapshot; the core hands the committed
// entries after it out again), and the entries.
func (s *MemStorage) Restart(cfg *zab.Config) zab.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.HardState = s.hard
	cfg.LogStart = s.snapshot.Zxid
	cfg.Applied = s.snapshot.Zxid
	cfg.Entries = slices.Clone(s.entries)
	return s.snapshot
}
