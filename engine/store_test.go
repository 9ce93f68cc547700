package engine

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/netio/jute"
	"zkd/tree"
	"zkd/tree/treetest"
)

// snapEnd reads the zxid and digest a snapshot file recorded at its end.
func snapEnd(t testing.TB, fs vfs.FS, path string) (int64, uint64) {
	t.Helper()
	tr, _, err := ReadSnapshotFile(fs, path)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := tr.TakeDigestCheck()
	if !ok {
		t.Fatalf("%s records no digest", path)
	}
	return c.Zxid, c.Digest
}

// TestRestoreChecksSnapshotDigest: a snapshot taken while transactions
// keep coming records the digest of the tree when it ended; a restart
// replays the log past that zxid and compares. A log that disagrees with
// the tree the snapshot was taken of (here: one txn logged differently
// from what was applied) is reported as a digest mismatch.
func TestRestoreChecksSnapshotDigest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper bool
		want   string
	}{
		{"match", false, "matches"},
		{"mismatch", true, "snapshot digest mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			opts := StoreOptions{DataDir: "data", FS: fs, NoSync: true}
			st, live, err := OpenStore(opts)
			if err != nil {
				t.Fatal(err)
			}
			txns := treetest.History(rand.New(rand.NewPCG(5, 5)), 600, 32)
			for i := range txns[:200] {
				live.Apply(&txns[i], nil)
			}
			// More is applied between the snapshot's chunks, so that it
			// ends past its start zxid and the check waits for the replay.
			next := 200
			between := func(f func()) {
				f()
				for k := 0; k < 3 && next < len(txns); k++ {
					live.Apply(&txns[next], nil)
					next++
				}
			}
			name, start, err := WriteSnapshot(fs, "data/snapshots", live, between, 5)
			if err != nil {
				t.Fatal(err)
			}
			for ; next < len(txns); next++ {
				live.Apply(&txns[next], nil)
			}
			end, _ := snapEnd(t, fs, "data/snapshots/"+name)
			if end <= start {
				t.Fatalf("snapshot ended at its start zxid %#x: nothing to replay before the check", start)
			}
			logged := append([]tree.Txn(nil), txns...)
			if tc.tamper {
				// The txn at the snapshot's end zxid is logged as another
				// one than the live tree applied.
				i := slices.IndexFunc(logged, func(x tree.Txn) bool { return x.Zxid == end })
				logged[i] = tree.Txn{Zxid: end, Type: jute.OpSetData, Path: "/", Data: []byte("not what was applied"), Version: 1}
			}
			if err := st.Log.Append(logged); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			logger, buf := snapLogger()
			opts.Logger = logger
			st, got, err := OpenStore(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if !strings.Contains(buf.String(), tc.want) || !strings.Contains(buf.String(), name) {
				t.Fatalf("restore from %s logged:\n%s\nwant %q", name, buf.String(), tc.want)
			}
			if want := map[bool]uint64{false: 0, true: 1}[tc.tamper]; got.DigestMismatches() != want {
				t.Fatalf("%d digest mismatches counted (mntr), want %d", got.DigestMismatches(), want)
			}
			if !tc.tamper && got.Digest() != live.Digest() {
				t.Fatalf("restored digest %x, live %x", got.Digest(), live.Digest())
			}
		})
	}
}
