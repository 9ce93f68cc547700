package replica

import (
	"os"
	"path/filepath"
	"slices"
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

// TestEngineStorageRefusesBadInput: a snapshot to install, an entry that
// is not an encoded txn and a damaged hard-state file are errors, not
// panics or silent defaults.
func TestEngineStorageRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenEngineStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(&zab.Ready{Snapshot: &zab.Snapshot{Zxid: 5}}); err != ErrSnapshotUnsupported {
		t.Errorf("snapshot: %v", err)
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
