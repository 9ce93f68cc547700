package replica

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"zkd/broadcast/zab"
	"zkd/netio/jute"
	"zkd/tree"
)

func entry(epoch zab.Epoch, counter uint32, name string) zab.Entry {
	return zab.Entry{Zxid: zab.MakeZxid(epoch, counter), Data: EncodeEntry(&tree.Txn{Type: jute.OpCreate, Path: "/" + name, ACL: tree.OpenACLUnsafe})}
}

func restartState(t *testing.T, dir string) zab.Config {
	t.Helper()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cfg zab.Config
	if err := s.Restart(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// restartSnap reopens dir and returns its restart state and snapshot.
func restartSnap(t *testing.T, dir string) (zab.Config, *zab.Snapshot) {
	t.Helper()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cfg zab.Config
	snap, err := s.RestartWithSnapshot(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, snap
}

func openStorage(t *testing.T, dir string) *EngineStorage {
	t.Helper()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func persist(t *testing.T, s *EngineStorage, rd zab.Ready) {
	t.Helper()
	if err := s.Persist(&rd); err != nil {
		t.Fatal(err)
	}
}

// zxids lists the entries' zxids, checking that each decodes.
func zxids(t *testing.T, es []zab.Entry) []zab.Zxid {
	t.Helper()
	var zs []zab.Zxid
	for _, e := range es {
		if _, err := DecodeEntry(e); err != nil {
			t.Fatal(err)
		}
		zs = append(zs, e.Zxid)
	}
	return zs
}

func entries(epoch zab.Epoch, counters ...uint32) []zab.Entry {
	var es []zab.Entry
	for _, c := range counters {
		es = append(es, entry(epoch, c, fmt.Sprintf("e%dc%d", epoch, c)))
	}
	return es
}

// TestEngineStorageRoundTrip: what Persist made durable is what Restart
// reads back after a reopen, truncation and hard state included, and the
// entries keep their zxids and data.
func TestEngineStorageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := zab.HardState{AcceptedEpoch: 1, AcceptedLeader: 2, CurrentEpoch: 1}
	first := []zab.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c"), entry(1, 4, "d")}
	if err := s.Persist(&zab.Ready{Entries: first, HardState: &hs}); err != nil {
		t.Fatal(err)
	}
	hs2 := zab.HardState{AcceptedEpoch: 2, AcceptedLeader: 3, CurrentEpoch: 2}
	second := []zab.Entry{entry(2, 1, "x")}
	if err := s.Persist(&zab.Ready{Truncate: true, TruncateAfter: zab.MakeZxid(1, 2), Entries: second, HardState: &hs2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := restartState(t, dir)
	if cfg.HardState != hs2 || cfg.LogStart != 0 || cfg.Applied != 0 {
		t.Fatalf("restart state %+v", cfg)
	}
	var got []string
	for _, e := range cfg.Entries {
		x, err := DecodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Zxid.String()+x.Path)
	}
	want := []string{first[0].Zxid.String() + "/a", first[1].Zxid.String() + "/b", second[0].Zxid.String() + "/x"}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

// TestEngineStorageRefusesBadInput: an entry that is not an encoded txn
// and a damaged hard-state file are errors, not panics or silent defaults.
func TestEngineStorageRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(&zab.Ready{Entries: []zab.Entry{{Zxid: 1, Data: []byte("not a txn")}}}); err == nil {
		t.Error("an entry that is not a txn was persisted")
	}
	hs := zab.HardState{AcceptedEpoch: 4, AcceptedLeader: 1, CurrentEpoch: 3}
	if err := s.Persist(&zab.Ready{HardState: &hs}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, hardStateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEngineStorage(dir); err == nil {
		t.Error("a hard-state file that fails its checksum was accepted")
	}
	if err := os.WriteFile(path, b[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEngineStorage(dir); err == nil {
		t.Error("a short hard-state file was accepted")
	}
}

// TestEngineStorageSnapRoundTrip: a Ready installing a leader's SNAP drops
// the whole old log, records above the snapshot included (they may be
// from another history), and a reopen restarts at the snapshot with the
// entries appended after it and the hard state.
func TestEngineStorageSnapRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	// An old log that ran past the snapshot with an epoch the leader
	// never had (say a failed leader's uncommitted proposals).
	persist(t, s, zab.Ready{Entries: slices.Concat(entries(1, 1, 2), entries(2, 1, 2))})
	snap := zab.Snapshot{Zxid: zab.MakeZxid(1, 5), Data: []byte("state at 1/5")}
	hs := zab.HardState{AcceptedEpoch: 3, AcceptedLeader: 2, CurrentEpoch: 3}
	after := slices.Concat(entries(1, 6, 7), entries(3, 1))
	persist(t, s, zab.Ready{Snapshot: &snap, Entries: after, HardState: &hs})
	if got, err := s.Snapshot(); err != nil || got.Zxid != snap.Zxid || !bytes.Equal(got.Data, snap.Data) {
		t.Fatalf("Snapshot() = %v %q, %v", got.Zxid, got.Data, err)
	}
	s.Close()

	cfg, got := restartSnap(t, dir)
	if got == nil || got.Zxid != snap.Zxid || !bytes.Equal(got.Data, snap.Data) {
		t.Fatalf("restart snapshot %+v", got)
	}
	if cfg.LogStart != snap.Zxid || cfg.Applied != snap.Zxid || cfg.HardState != hs {
		t.Fatalf("restart state %+v", cfg)
	}
	if z, want := zxids(t, cfg.Entries), zxids(t, after); !slices.Equal(z, want) {
		t.Fatalf("entries %v, want %v", z, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "log")); !os.IsNotExist(err) {
		t.Errorf("the old log is still there: %v", err)
	}
	// A caller that cannot restore a snapshot is refused, not started empty.
	s = openStorage(t, dir)
	var c zab.Config
	if err := s.Restart(&c); err == nil || !strings.Contains(err.Error(), "RestartWithSnapshot") {
		t.Errorf("Restart over a snapshot: %v", err)
	}
	// A second SNAP moves to the next log generation.
	snap2 := zab.Snapshot{Zxid: zab.MakeZxid(4, 2), Data: []byte("state at 4/2")}
	persist(t, s, zab.Ready{Snapshot: &snap2, Entries: entries(4, 3)})
	s.Close()
	cfg, got = restartSnap(t, dir)
	if got.Zxid != snap2.Zxid || cfg.LogStart != snap2.Zxid || !slices.Equal(zxids(t, cfg.Entries), []zab.Zxid{zab.MakeZxid(4, 3)}) {
		t.Fatalf("after a second SNAP: snapshot %v, start %v, entries %v", got.Zxid, cfg.LogStart, zxids(t, cfg.Entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "log.1")); !os.IsNotExist(err) {
		t.Errorf("log.1 is still there: %v", err)
	}
}

// TestEngineStorageSaveSnapshot: the server's own snapshot replaces the
// stored one, the log keeps only what follows it, and snapshots that are
// stale or beyond the durable log are refused.
func TestEngineStorageSaveSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	if _, err := s.Snapshot(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Snapshot() with none stored: %v", err)
	}
	persist(t, s, zab.Ready{Entries: entries(1, 1, 2, 3, 4, 5)})
	for _, z := range []uint32{2, 3} {
		if err := s.SaveSnapshot(zab.Snapshot{Zxid: zab.MakeZxid(1, z), Data: fmt.Appendf(nil, "at %d", z)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		zxid zab.Zxid
		want error // nil: any error
	}{
		{"stale", zab.MakeZxid(1, 2), ErrSnapshotStale},
		{"beyond the log", zab.MakeZxid(1, 6), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SaveSnapshot(zab.Snapshot{Zxid: tc.zxid})
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("SaveSnapshot(%v) = %v, want %v", tc.zxid, err, tc.want)
			}
		})
	}
	got, err := s.Snapshot()
	if err != nil || got.Zxid != zab.MakeZxid(1, 3) || string(got.Data) != "at 3" {
		t.Fatalf("Snapshot() = %v %q, %v", got.Zxid, got.Data, err)
	}
	// Purged up to the snapshot (the engine keeps the record at it).
	if first := s.mu.log.FirstZxid(); first != int64(zab.MakeZxid(1, 3)) {
		t.Errorf("log starts at %v", zab.Zxid(first))
	}
	s.Close()
	cfg, snap := restartSnap(t, dir)
	if snap == nil || snap.Zxid != zab.MakeZxid(1, 3) || string(snap.Data) != "at 3" {
		t.Fatalf("restart snapshot %+v", snap)
	}
	if cfg.LogStart != snap.Zxid || cfg.Applied != snap.Zxid {
		t.Fatalf("restart state %+v", cfg)
	}
	if z := zxids(t, cfg.Entries); !slices.Equal(z, zxids(t, entries(1, 4, 5))) {
		t.Fatalf("entries %v", z)
	}
}

// TestEngineStorageSaveSnapshotConcurrent: SaveSnapshot on its own
// goroutine while Persist appends and installs (run with -race). Every
// save either lands or is refused as stale; a reopen then restarts at a
// stored snapshot with every entry after it.
func TestEngineStorageSaveSnapshotConcurrent(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	const n = 60
	var durable atomic.Uint32 // counter of the last entry Persist returned
	done := make(chan error)
	go func() {
		for c := durable.Load(); c < n; c = durable.Load() {
			if c == 0 {
				runtime.Gosched()
				continue
			}
			err := s.SaveSnapshot(zab.Snapshot{Zxid: zab.MakeZxid(1, c), Data: fmt.Appendf(nil, "%d", c)})
			if err != nil && !errors.Is(err, ErrSnapshotStale) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for c := uint32(1); c <= n; c++ {
		rd := zab.Ready{Entries: entries(1, c)}
		if c == n/2 {
			rd.Snapshot = &zab.Snapshot{Zxid: zab.MakeZxid(1, c-1), Data: []byte("snap")}
		}
		persist(t, s, rd)
		durable.Store(c)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close()
	cfg, snap := restartSnap(t, dir)
	if snap == nil || cfg.LogStart != snap.Zxid {
		t.Fatalf("restart: snapshot %+v, start %v", snap, cfg.LogStart)
	}
	want := zab.MakeZxid(1, n)
	if len(cfg.Entries) > 0 && (cfg.Entries[0].Zxid != snap.Zxid+1 || cfg.Entries[len(cfg.Entries)-1].Zxid != want) ||
		len(cfg.Entries) == 0 && snap.Zxid != want {
		t.Fatalf("snapshot %v, entries %v", snap.Zxid, zxids(t, cfg.Entries))
	}
}

// TestEngineStorageCorruptSnapshot: a snapshot file that is torn or damaged
// stops Open with an error naming it, leaving everything in place (a temp
// file beside it included), rather than starting without it.
func TestEngineStorageCorruptSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"data byte flipped", func(b []byte) []byte { b[snapHeaderBytes+1] ^= 0x10; return b }},
		{"zxid byte flipped", func(b []byte) []byte { b[15] ^= 1; return b }},
		{"checksum flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"torn in the data", func(b []byte) []byte { return b[:snapHeaderBytes+3] }},
		{"torn in the header", func(b []byte) []byte { return b[:7] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStorage(t, dir)
			persist(t, s, zab.Ready{Entries: entries(1, 1, 2, 3)})
			if err := s.SaveSnapshot(zab.Snapshot{Zxid: zab.MakeZxid(1, 2), Data: []byte("some state")}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			path := filepath.Join(dir, snapFileName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(dir, snapFileName+".tmp1")
			if err := os.WriteFile(tmp, b, 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenEngineStorage(dir)
			if err == nil {
				s2.Close()
				t.Fatal("a damaged snapshot file was accepted")
			}
			if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s as corrupt", err, path)
			}
			for _, p := range []string{tmp, filepath.Join(dir, "log")} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}

// TestEngineStorageSnapCrash: what a crash can leave between the steps of
// saving or installing a snapshot restarts as one consistent state.
func TestEngineStorageSnapCrash(t *testing.T) {
	old := slices.Concat(entries(1, 1, 2, 3, 4, 5), entries(2, 1))
	// writeSnap puts a snapshot file in place as SaveSnapshot or the
	// install would, and stops there.
	writeSnap := func(t *testing.T, dir string, zxid zab.Zxid, gen uint64) {
		head, tail := encodeSnapshotFile(snapFile{Snapshot: zab.Snapshot{Zxid: zxid, Data: []byte("s")}, logGen: gen})
		tmp, err := writeTemp(dir, snapFileName, head, []byte("s"), tail)
		if err != nil {
			t.Fatal(err)
		}
		if err := commitTemp(tmp, dir, snapFileName); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, dir string)
		start zab.Zxid // 0: no snapshot
		want  []zab.Entry
	}{
		{
			// The snapshot at 1/3 is in place, the log not yet purged.
			name:  "save before purge",
			crash: func(t *testing.T, dir string) { writeSnap(t, dir, zab.MakeZxid(1, 3), 0) },
			start: zab.MakeZxid(1, 3),
			want:  slices.Concat(entries(1, 4, 5), entries(2, 1)),
		},
		{
			// A leader's snapshot at 1/4 is in place, the switch to log 1
			// not done: nothing of the old log survives, 2/1 included.
			name:  "install before the log switch",
			crash: func(t *testing.T, dir string) { writeSnap(t, dir, zab.MakeZxid(1, 4), 1) },
			start: zab.MakeZxid(1, 4),
		},
		{
			// The new snapshot file was never renamed into place.
			name: "temp file only",
			crash: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, snapFileName+".tmp42"), []byte("half a snap"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: old,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStorage(t, dir)
			persist(t, s, zab.Ready{Entries: old})
			s.Close()
			tc.crash(t, dir)
			cfg, snap := restartSnap(t, dir)
			if tc.start == 0 && snap != nil || tc.start != 0 && (snap == nil || snap.Zxid != tc.start) {
				t.Fatalf("snapshot %+v, want at %v", snap, tc.start)
			}
			if cfg.LogStart != tc.start || cfg.Applied != tc.start {
				t.Fatalf("restart state %+v", cfg)
			}
			if z, want := zxids(t, cfg.Entries), zxids(t, tc.want); !slices.Equal(z, want) {
				t.Fatalf("entries %v, want %v", z, want)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(m) > 0 {
				t.Errorf("temp files left: %v", m)
			}
			// The storage goes on from there.
			s = openStorage(t, dir)
			next := entry(3, 1, "next")
			persist(t, s, zab.Ready{Entries: []zab.Entry{next}})
		})
	}
}

// TestEngineStorageLostSnapshot: a log of a later generation without the
// snapshot file that names it is an error, not a fresh start.
func TestEngineStorageLostSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	persist(t, s, zab.Ready{Snapshot: &zab.Snapshot{Zxid: 5}, Entries: entries(1, 6)})
	s.Close()
	if err := os.Remove(filepath.Join(dir, snapFileName)); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenEngineStorage(dir); err == nil || !strings.Contains(err.Error(), snapFileName) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open without the snapshot file: %v", err)
	}
}
