package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/engine"
	"zkd/netio/jute"
	"zkd/tree"
)

var crashRounds = flag.Int("crash.rounds", 20, "SIGKILL rounds in TestCrashRecovery")

// ackedWrite is the last write a writer saw acknowledged for its znode.
type ackedWrite struct {
	version int32
	data    string
}

// TestCrashRecovery runs a real zkd under a sustained write load, kills it
// with SIGKILL at random moments, restarts it on the same data directory,
// and checks that every acknowledged write survived: each znode holds the
// last acknowledged data (or a later write that was in flight when the
// process died) with at least the acknowledged version.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	bin := buildZkd(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seed := rng.Uint64()
	t.Logf("seed %d", seed)
	rng = rand.New(rand.NewPCG(seed, 2))

	const writers = 8
	acked := make([]map[string]ackedWrite, writers)
	inflight := make([]map[string]string, writers) // path → data sent, not yet acknowledged
	for i := range acked {
		acked[i] = map[string]ackedWrite{}
		inflight[i] = map[string]string{}
	}
	for round := 0; round < *crashRounds; round++ {
		cmd := startZkdProcess(t, bin, addr, dataDir)
		verifyAcked(t, addr, acked, inflight, round)
		for i := range inflight {
			clear(inflight[i])
		}
		// Load, then SIGKILL at a random moment.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				writeLoop(addr, w, round, acked[w], inflight[w], stop)
			}(w)
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
	}
	cmd := startZkdProcess(t, bin, addr, dataDir)
	verifyAcked(t, addr, acked, inflight, *crashRounds)
	total := 0
	for _, m := range acked {
		total += len(m)
	}
	if total == 0 {
		t.Fatal("no write was ever acknowledged: the test proved nothing")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	// The tree a restart restores (newest snapshot + the log after it)
	// must equal the tree rebuilt from scratch by replaying the whole log
	// (the zoo.cfg keeps every log record: no autopurge).
	store, restored, err := engine.OpenStore(engine.StoreOptions{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	scratch := tree.New()
	if err := store.Log.Read(1, math.MaxInt64, func(x *tree.Txn) error { scratch.Apply(x, nil); return nil }); err != nil {
		t.Fatal(err)
	}
	if restored.LastZxid() != scratch.LastZxid() || restored.Digest() != scratch.Digest() {
		t.Fatalf("restored tree (zxid 0x%x, digest %x) differs from a full replay (zxid 0x%x, digest %x)",
			restored.LastZxid(), restored.Digest(), scratch.LastZxid(), scratch.Digest())
	}
	t.Logf("%d znodes written by %d writers over %d SIGKILLs; %d txns; restored digest %x",
		total, writers, *crashRounds, restored.LastZxid(), restored.Digest())
}

func startZkdProcess(t *testing.T, bin, addr, dataDir string) *exec.Cmd {
	t.Helper()
	// A small snapCount makes the kills land before, during and after
	// snapshots, so restarts replay from snapshots as well as the log; no
	// autopurge, so the whole log stays for the final comparison.
	cfg := filepath.Join(filepath.Dir(dataDir), "zoo.cfg")
	if err := os.WriteFile(cfg, []byte("tickTime=500\nautopurge.purgeInterval=0\n4lw.commands.whitelist=ruok,srvr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, _ := runZkd(t, addr, bin, "-config", cfg, "-addr", addr, "-data", dataDir, "-log-level", "warn", "-snap-count", "200")
	return cmd
}

// writeLoop creates and rewrites znodes of one writer until stop or the
// connection dies, recording what was acknowledged.
func writeLoop(addr string, w, round int, acked map[string]ackedWrite, inflight map[string]string, stop chan struct{}) {
	c, err := wire.Dial(addr, wire.Options{Timeout: 10 * time.Second})
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		path := fmt.Sprintf("/crash-w%d-n%d", w, i%5)
		data := fmt.Sprintf("w%d r%d i%d", w, round, i)
		inflight[path] = data
		_, exists := acked[path]
		var hdr jute.ReplyHeader
		var stat jute.StatResponse // stays zero for a create: version 0
		if !exists {
			var created jute.PathResponse
			hdr, err = c.Call(jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(data), ACL: tree.OpenACLUnsafe}, &created)
			if err == nil && hdr.Err == jute.ErrNodeExists {
				// Created in a round whose reply was lost: rewrite it.
				hdr, err = c.Call(jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(data), Version: -1}, &stat)
			}
		} else {
			hdr, err = c.Call(jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(data), Version: -1}, &stat)
		}
		if err != nil || hdr.Err != jute.ErrOK {
			return
		}
		acked[path] = ackedWrite{version: stat.Stat.Version, data: data}
		delete(inflight, path)
	}
}

// verifyAcked checks every acknowledged write against the restarted server.
func verifyAcked(t *testing.T, addr string, acked []map[string]ackedWrite, inflight []map[string]string, round int) {
	t.Helper()
	c, err := wire.Dial(addr, wire.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("round %d: connect after restart: %v", round, err)
	}
	defer c.CloseSession()
	// In an ensemble this server may trail the leader: catch up first.
	if hdr, err := c.Call(jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{}); err != nil || hdr.Err != jute.ErrOK {
		t.Fatalf("round %d: sync: %v %v", round, err, hdr.Err)
	}
	for w := range acked {
		for path, want := range acked[w] {
			var got jute.GetDataResponse
			hdr, err := c.Call(jute.OpGetData, &jute.PathWatchRequest{Path: path}, &got)
			if err != nil {
				t.Fatalf("round %d: getData %s: %v", round, path, err)
			}
			if hdr.Err != jute.ErrOK {
				t.Fatalf("round %d: acknowledged %s (v%d %q) is gone after SIGKILL: %v", round, path, want.version, want.data, hdr.Err)
			}
			if string(got.Data) == want.data {
				if got.Stat.Version < want.version {
					t.Fatalf("round %d: %s has version %d, acknowledged %d", round, path, got.Stat.Version, want.version)
				}
				continue
			}
			if pending, ok := inflight[w][path]; ok && string(got.Data) == pending && got.Stat.Version >= want.version {
				// The write in flight at the kill made it to disk: allowed.
				acked[w][path] = ackedWrite{version: got.Stat.Version, data: pending}
				continue
			}
			t.Fatalf("round %d: %s holds %q v%d, acknowledged %q v%d", round, path, got.Data, got.Stat.Version, want.data, want.version)
		}
	}
}
