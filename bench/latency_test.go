package bench

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
)

// inprocLauncher starts an in-process zkd (no PID of its own, so no CPU
// figures) for tests that do not need the binary.
type inprocLauncher struct{ t *testing.T }

func (l inprocLauncher) System() string { return "zkd" }

func (l inprocLauncher) Launch(n int) (Cluster, error) {
	if n != 1 {
		return nil, fmt.Errorf("%w: in-process zkd is standalone", ErrEnsembleUnavailable)
	}
	addr := netiotest.Start(l.t, netio.Config{TickTime: 500 * time.Millisecond, FourLetterWords: []string{"*"}})
	return &hostsCluster{name: "zkd", addrs: []string{addr}, pids: []int{0}, leader: 0}, nil
}

// TestRunCreates: every worker's creates complete, each is deleted again
// by the asynchronous delete, and the latencies are ordered.
func TestRunCreates(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	res, err := RunCreates(CreateConfig{Addrs: []string{addr}, Workers: 3, CreatesPerWorker: 200, ValueBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Creates != 600 || res.Errors != 0 {
		t.Fatalf("%d creates, %d errors; want 600, 0", res.Creates, res.Errors)
	}
	l := Summarize(res.Lat)
	if l.Count != 600 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || res.CreatesPerSec() <= 0 {
		t.Errorf("latency %+v, %.0f creates/s", l, res.CreatesPerSec())
	}
	c, err := wire.Dial(addr, wire.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession()
	var kids jute.StringsResponse
	if h, err := c.Call(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/zkbench-create"}, &kids); err != nil || h.Err != jute.ErrOK {
		t.Fatalf("getChildren: %v %v", err, h.Err)
	}
	if len(kids.Strings) != 0 {
		t.Errorf("left behind: %v", kids.Strings)
	}
}

// TestRunCreatesBounded: MaxDuration stops a run early.
func TestRunCreatesBounded(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	start := time.Now()
	res, err := RunCreates(CreateConfig{Addrs: []string{addr}, Workers: 1, CreatesPerWorker: 10_000_000, MaxDuration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second || res.Creates == 0 || res.Creates >= 10_000_000 {
		t.Errorf("%d creates in %v", res.Creates, d)
	}
}

func TestCreateTable(t *testing.T) {
	tb, err := RunCreateTable(CreateTableConfig{
		Servers: []int{1, 3}, Workers: []int{1, 4}, Systems: []Launcher{inprocLauncher{t}}, CreatesPerWorker: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Cells) != 4 {
		t.Fatalf("%d cells", len(tb.Cells))
	}
	for _, k := range []int{1, 4} {
		c := tb.Find("zkd", 1, k)
		if c.Status != StatusOK || c.Creates != int64(100*k) || c.CreatesPerSec <= 0 || c.Latency.Mean <= 0 {
			t.Errorf("cell %+v", c)
		}
		if c := tb.Find("zkd", 3, k); c.Status != StatusUnavailable {
			t.Errorf("ensemble cell %+v", c)
		}
	}
	var md, cs bytes.Buffer
	if err := WriteCreateMarkdown(&md, tb); err != nil {
		t.Fatal(err)
	}
	if n := checkMarkdownTables(t, md.String()); n != 1 || !strings.Contains(md.String(), "| 3 | 4 | n/a (1) |") {
		t.Errorf("%d tables:\n%s", n, md.String())
	}
	if err := WriteCreateCSV(&cs, tb); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&cs).ReadAll(); err != nil || len(rows) != 5 {
		t.Errorf("CSV %d rows, %v", len(rows), err)
	}
	if _, err := RunCreateTable(CreateTableConfig{Servers: []int{3}, Workers: []int{1}, Systems: []Launcher{inprocLauncher{t}}}); err == nil {
		t.Error("a table with no measurable cell did not fail")
	}
}
