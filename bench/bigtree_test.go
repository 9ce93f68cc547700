package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"zkd/tools/refzk"
)

// TestBigTreeValue: the json payload is valid JSON of exactly ValueBytes
// for every index up to 10^7; random payloads differ by index and
// generation and are reproducible.
func TestBigTreeValue(t *testing.T) {
	b := BigTree{Payload: PayloadJSON}.WithDefaults()
	for _, i := range []int{0, 7, 999_999, 9_999_999} {
		v := b.Value(nil, i, 123456)
		if len(v) != b.ValueBytes || !json.Valid(v) {
			t.Errorf("json value %d: %d bytes, valid %v: %s", i, len(v), json.Valid(v), v)
		}
	}
	r := BigTree{Payload: PayloadRandom, Seed: 3}.WithDefaults()
	a, a2 := r.Value(nil, 5, 0), r.Value(nil, 5, 0)
	if len(a) != r.ValueBytes || !bytes.Equal(a, a2) {
		t.Fatalf("random value not reproducible: %x %x", a, a2)
	}
	if bytes.Equal(a, r.Value(nil, 6, 0)) || bytes.Equal(a, r.Value(nil, 5, 1)) {
		t.Error("random values repeat across index or generation")
	}
}

// bigTreeTestConfig is a campaign small enough for a unit test.
func bigTreeTestConfig(t *testing.T, paced bool) BigTreeConfig {
	cfg := BigTreeConfig{
		Tree:            BigTree{Nodes: 20_000, Fanout: 500, Payload: PayloadRandom, Seed: 1},
		FillConns:       4,
		FillOutstanding: 500,
		SnapCountSmall:  400,
		Settle:          100 * time.Millisecond,
		ServeTimeout:    time.Minute,
		Logf:            t.Logf,
	}
	if paced {
		cfg.Rate, cfg.Sessions, cfg.Duration = 1000, 4, time.Second
	}
	return cfg
}

// checkBigTree checks that every figure of a small campaign is sane.
func checkBigTree(t *testing.T, res *BigTreeResult, cfg BigTreeConfig) {
	t.Helper()
	n := cfg.Tree.Nodes
	if res.Fill.Nodes != n || res.Fill.Elapsed <= 0 || res.Fill.CreatesPerSec() <= 0 {
		t.Errorf("fill: %+v", res.Fill)
	}
	// 20k nodes of 100 random bytes: at least 2 MB in memory and on disk.
	if res.RSSAfterLoad < 2<<20 || res.RSSAfterRestart < 2<<20 {
		t.Errorf("RSS after load %d, after restart %d", res.RSSAfterLoad, res.RSSAfterRestart)
	}
	if res.HeapAfterLoad.UsedBytes <= 0 || res.HeapAfterRestart.UsedBytes <= 0 {
		t.Errorf("heap after load %+v, after restart %+v", res.HeapAfterLoad, res.HeapAfterRestart)
	}
	if res.IdleSnapshot.Took <= 0 && res.IdleSnapshot.Bytes <= 0 {
		t.Errorf("idle snapshot %+v", res.IdleSnapshot)
	}
	if res.SnapshotFileBytes < int64(n)*100 || res.SnapshotFileBytes > int64(n)*1000 {
		t.Errorf("snapshot file %s: %d bytes for %d nodes", res.SnapshotFile, res.SnapshotFileBytes, n)
	}
	if res.IdleSnapshot.Bytes != 0 && res.IdleSnapshot.Bytes < int64(n)*100 {
		t.Errorf("idle snapshot %d bytes for %d nodes", res.IdleSnapshot.Bytes, n)
	}
	if res.DiskSnapBytes < res.SnapshotFileBytes || res.DiskLogBytes <= 0 {
		t.Errorf("disk: snapshots %d, log %d", res.DiskSnapBytes, res.DiskLogBytes)
	}
	wantRestarts := 2
	if cfg.Duration > 0 {
		wantRestarts = 3
	}
	if len(res.Restarts) != wantRestarts {
		t.Fatalf("%d restarts, want %d", len(res.Restarts), wantRestarts)
	}
	for _, r := range res.Restarts {
		s := r.Serving
		if s.FirstRead <= 0 || s.MarkerRead < s.FirstRead || s.FirstRead > cfg.ServeTimeout {
			t.Errorf("%s: %+v", r.Label, s)
		}
		if r.RestoreNote == "" {
			t.Errorf("%s: the server logged nothing about its restore", r.Label)
		}
	}
	if cfg.Duration <= 0 {
		return
	}
	if len(res.Runs) != 2 {
		t.Fatalf("%d paced runs", len(res.Runs))
	}
	for _, run := range res.Runs {
		r := run.Result
		want := cfg.Rate * cfg.Duration.Seconds()
		if float64(r.Answered) < 0.9*want || float64(r.Answered) > 1.1*want || r.Errors != 0 {
			t.Errorf("%s: answered %d (errors %d), scheduled %.0f", run.Label, r.Answered, r.Errors, want)
		}
		p50, p99, pmax := HistQuantile(r.Lat, 50), HistQuantile(r.Lat, 99), HistQuantile(r.Lat, 100)
		if p50 <= 0 || p50 > p99 || p99 > pmax || HistQuantile(r.SchedLat, 100) < pmax {
			t.Errorf("%s: latencies p50 %v p99 %v max %v sched max %v", run.Label, p50, p99, pmax, HistQuantile(r.SchedLat, 100))
		}
	}
	if got := len(res.Runs[0].Snapshots); got != 0 {
		t.Errorf("%d snapshots during the run without snapshots", got)
	}
	if got := len(res.Runs[1].Snapshots); got == 0 {
		t.Errorf("no snapshot during the run with snapCount %d", cfg.SnapCountSmall)
	}
}

// TestBigTreeZkd runs a 20k-node campaign against the zkd binary.
func TestBigTreeZkd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs zkd")
	}
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	bin, err := BuildZkd(filepath.Dir(filepath.Dir(file)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewZkdBig(bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("data directory %s left behind: %v", dir, err)
		}
	}()
	cfg := bigTreeTestConfig(t, true)
	res, err := RunBigTree(s, cfg)
	if err != nil {
		t.Fatalf("%v\nzkd logs:\n%s", err, s.Logs())
	}
	checkBigTree(t, res, cfg)
	if ev := res.IdleSnapshot; ev.Nodes < cfg.Tree.Nodes {
		t.Errorf("zkd's snapshot line counts %d nodes, want at least %d", ev.Nodes, cfg.Tree.Nodes)
	}
}

// TestBigTreeZooKeeper runs a 20k-node campaign (without the paced runs,
// to keep it short) against Apache ZooKeeper 3.8.
func TestBigTreeZooKeeper(t *testing.T) {
	if testing.Short() || !refzk.Available() {
		t.Skip("needs Apache ZooKeeper 3.8 (apt-get install zookeeper)")
	}
	t.Parallel()
	s, err := NewZooKeeperBig("-Xmx512m")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	cfg := bigTreeTestConfig(t, false)
	res, err := RunBigTree(s, cfg)
	if err != nil {
		b, _ := os.ReadFile(s.logPath())
		t.Fatalf("%v\nzookeeper.out:\n%s", err, b)
	}
	checkBigTree(t, res, cfg)
	if res.HeapAfterRestartGC.UsedBytes <= 0 || res.RSSAfterRestartGC <= 0 {
		t.Errorf("after a full GC: heap %+v, RSS %d", res.HeapAfterRestartGC, res.RSSAfterRestartGC)
	}
	for _, r := range res.Restarts {
		if r.StartupSnapshot == nil {
			t.Errorf("%s: no startup snapshot logged", r.Label)
		}
	}
}

// zkd's JSON log shares stderr with the runtime's gctrace, whose lines are
// written in pieces: a record can follow the head of a gc line (CI saw
// "gc 1{...restored...}"). The record must still be found, and the notes
// built from it.
func TestZkdLogLinesAfterGCTrace(t *testing.T) {
	logs := &lockedBuffer{}
	logs.Write([]byte("gc 1{\"level\":\"INFO\",\"msg\":\"restored\",\"replayed\":1013,\"nodes\":20046,\"took\":103000000}\n" +
		" @0.111s 0%: 1.3+14+0.10 ms clock, 15->15->11 MB, 16 MB goal, 2 P\n" +
		"{\"level\":\"INFO\",\"msg\":\"snapshot written\",\"nodes\":20046,\"bytes\":2390455,\"took\":144000000}\n" +
		"not json {at all\n"))
	z := &ZkdBig{proc: &ZkdProcess{logs: logs}}
	if err := z.Started(); err != nil {
		t.Fatal(err)
	}
	if got, want := z.RestoreNote(), "restored in 103ms (snapshot load + 1013 txns replayed, 20046 nodes)"; got != want {
		t.Errorf("RestoreNote = %q, want %q", got, want)
	}
	if evs := z.SnapshotsSince(0); len(evs) != 1 || evs[0].Nodes != 20046 || evs[0].Bytes != 2390455 {
		t.Errorf("SnapshotsSince = %+v", evs)
	}
}
