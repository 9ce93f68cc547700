package broadcast

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"zkd/broadcast/zab"
	"zkd/tree"
	"zkd/tree/treetest"
)

// An ensemble snapshot is encoded beside the loop while it applies: the
// tree decoded from it, with the txns after its zxid replayed as a
// restart does, must equal the live tree.
func TestFuzzySnapshotWhileApplying(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			txns := treetest.History(rng, 1500, 64)
			live := tree.New()
			for i := range txns[:500] {
				live.Apply(&txns[i], nil)
			}
			withReadLock, wait := treetest.ApplyBeside(live, txns[500:])
			chunks := 0
			snap, err := encodeSnapshot(live, func(f func()) {
				withReadLock(f)
				chunks++
			}, 2)
			wait()
			if err != nil {
				t.Fatal(err)
			}
			if chunks < 3 {
				t.Fatalf("encoded in %d lock holds: not chunked", chunks)
			}
			got, err := DecodeSnapshot(snap)
			if err != nil {
				t.Fatal(err)
			}
			for i := range txns {
				if txns[i].Zxid > int64(snap.Zxid) {
					got.Apply(&txns[i], nil)
				}
			}
			if got.Digest() != live.Digest() {
				t.Fatalf("snapshot at %v plus replay: digest %x, live tree %x", snap.Zxid, got.Digest(), live.Digest())
			}
			// The digest the snapshot recorded at its end held when the
			// replay got there.
			if c, ok := got.TakeDigestCheck(); !ok || !c.OK() {
				t.Fatalf("digest check: %v (taken %v)", c, ok)
			}
		})
	}
}

// A snapshot of a tree that holds still (the leader's SNAP) decodes to
// the same tree at the same zxid.
func TestSnapshotRoundTrip(t *testing.T) {
	txns := treetest.History(rand.New(rand.NewPCG(9, 9)), 800, 32)
	want := tree.New()
	for i := range txns {
		want.Apply(&txns[i], nil)
	}
	e := &Ensemble{tree: want}
	snap, err := (*ensembleSM)(e).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if int64(snap.Zxid) != want.LastZxid() || got.LastZxid() != want.LastZxid() || got.Digest() != want.Digest() {
		t.Fatalf("zxid %v (tree %#x), digest %x, want %x", snap.Zxid, want.LastZxid(), got.Digest(), want.Digest())
	}
	snap.Data = snap.Data[:len(snap.Data)/2]
	if _, err := DecodeSnapshot(snap); err == nil {
		t.Fatal("a truncated snapshot decoded")
	}
}

// FuzzDecodeSnapshot decodes a leader's SNAP payload: whatever arrives
// must give a tree or an error, never a panic or an unbounded allocation.
func FuzzDecodeSnapshot(f *testing.F) {
	for _, n := range []int{0, 5, 80} {
		txns := treetest.History(rand.New(rand.NewPCG(uint64(n), 3)), n, 24)
		live := tree.New()
		for i := range txns {
			live.Apply(&txns[i], nil)
		}
		snap, err := encodeSnapshot(live, func(f func()) { f() }, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(int64(snap.Zxid), snap.Data)
	}
	f.Add(int64(0), []byte{})
	f.Fuzz(func(t *testing.T, zxid int64, data []byte) {
		got, err := DecodeSnapshot(zab.Snapshot{Zxid: zab.Zxid(zxid), Data: data})
		if err != nil {
			return
		}
		if got.LastZxid() != zxid {
			t.Fatalf("snapshot at %#x decoded to a tree at %#x", zxid, got.LastZxid())
		}
		// What decodes encodes and decodes to the same tree again.
		again, err := encodeSnapshot(got, func(f func()) { f() }, 0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeSnapshot(again)
		if err != nil || back.Digest() != got.Digest() {
			t.Fatalf("re-encoded snapshot: %v (digest %x, want %x)", err, back.Digest(), got.Digest())
		}
	})
}
