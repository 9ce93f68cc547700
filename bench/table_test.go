package bench

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"zkd/tools/refzk"
)

// testZkd is cmd/zkd built once for the package's tests: the build cache
// makes the compile cheap, but each link takes seconds. TestMain removes
// its directory.
var testZkd struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testZkd.dir != "" {
		os.RemoveAll(testZkd.dir)
	}
	os.Exit(code)
}

// tableTestZkd returns the zkd binary, building it on first use.
func tableTestZkd(t *testing.T) string {
	t.Helper()
	testZkd.once.Do(func() {
		if testZkd.dir, testZkd.err = os.MkdirTemp("", "zkbench-test-zkd-"); testZkd.err == nil {
			testZkd.bin, testZkd.err = BuildZkd("..", testZkd.dir)
		}
	})
	if testZkd.err != nil {
		t.Fatal(testZkd.err)
	}
	return testZkd.bin
}

// checkCell holds a measured cell to the promises: the asked
// write fraction within a tolerance, no errors, positive latencies in
// order, the client's CPU share known, and every server's counters read.
// fsyncsKnown false lets the servers' fsync counts be unknown (-1): a zkd
// ensemble member does not report zk_log_syncs in mntr yet.
func checkCell(t *testing.T, c *Cell, inFlight int, fsyncsKnown bool) {
	t.Helper()
	name := c.System + "/" + fmtPct(c.WriteFraction)
	if !c.OK() {
		t.Fatalf("%s servers=%d: %s: %s", name, c.Servers, c.Status, c.Reason)
	}
	total := c.Reads + c.Writes
	if total < 50 {
		t.Fatalf("%s servers=%d: only %d requests; warnings %q; servers %+v", name, c.Servers, total, c.Warnings, c.PerServer)
	}
	if c.Errors != 0 {
		t.Errorf("%s: %d errors", name, c.Errors)
	}
	// The mix is random: allow four standard deviations of a binomial
	// proportion, plus the requests in flight at the window's edges (the
	// slower kind is over-represented among them), plus 2 %.
	n, f := float64(total), c.WriteFraction
	tol := 0.02 + 4*math.Sqrt(f*(1-f)/n) + float64(inFlight)/n
	if frac := float64(c.Writes) / n; math.Abs(frac-f) > tol {
		t.Errorf("%s: write fraction %.3f, asked %.2f ± %.3f", name, frac, f, tol)
	}
	for _, l := range []Latency{c.Read, c.Write, c.All} {
		if l.Count == 0 {
			continue
		}
		if l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
			t.Errorf("%s: latencies not ordered: %+v", name, l)
		}
	}
	if c.ClientCPUShare <= 0 || c.ClientCPUShare >= 1 {
		t.Errorf("%s: client CPU share %g", name, c.ClientCPUShare)
	}
	if len(c.PerServer) != c.Servers || c.Leader < 0 {
		t.Fatalf("%s: %d server windows, leader %d", name, len(c.PerServer), c.Leader)
	}
	leaders := 0
	for i, s := range c.PerServer {
		if s.CPUSec <= 0 {
			t.Errorf("%s: server %d CPU %g", name, i, s.CPUSec)
		}
		if s.Role == "leader" || s.Role == "standalone" {
			leaders++
			if i != c.Leader {
				t.Errorf("%s: server %d is %s, leader index %d", name, i, s.Role, c.Leader)
			}
		}
		if (s.Fsyncs < 0 && fsyncsKnown) || s.Txns < 0 {
			t.Errorf("%s: server %d fsyncs %d txns %d unknown", name, i, s.Fsyncs, s.Txns)
		}
		// Writes in flight when the window opened may have been logged
		// before the server's counters were read, and answered inside it.
		if c.Writes > 0 && (s.Fsyncs == 0 || s.Txns < c.Writes-int64(inFlight)) {
			t.Errorf("%s: server %d: %d fsyncs, %d txns for %d writes", name, i, s.Fsyncs, s.Txns, c.Writes)
		}
	}
	if leaders != 1 {
		t.Errorf("%s: %d leaders", name, leaders)
	}
	if c.Reads > 0 && (c.ReadRequestBytes <= 0 || c.ReadReplyBytes < 256) {
		t.Errorf("%s: read bytes %g + %g", name, c.ReadRequestBytes, c.ReadReplyBytes)
	}
}

// TestTableShortRun: the driver against zkd standalone and as a 3-server
// ensemble (and, when the Debian package is installed, Apache ZooKeeper
// likewise, in the same run) produces a well-formed table, JSON, CSV, SVG
// and capacity report.
func TestTableShortRun(t *testing.T) {
	bin := tableTestZkd(t)
	systems := []Launcher{ZkdLauncher{Bin: bin}}
	if refzk.Available() {
		systems = append(systems, ZooKeeperLauncher{ForceSync: true, JVMFlags: []string{"-Xmx256m"}})
	} else {
		t.Log("Apache ZooKeeper is not installed: zkd only")
	}
	tb, err := RunTable(TableConfig{
		Servers: []int{1, 3}, Writes: []float64{0, 0.5}, Systems: systems,
		Load: LoadConfig{Sessions: 6, Outstanding: 8, ValueBytes: 256, Znodes: 10,
			Warmup: 200 * time.Millisecond, Duration: 800 * time.Millisecond, Seed: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	inFlight := tb.Params.Sessions * tb.Params.Outstanding
	if len(tb.Cells) != 4*len(systems) {
		t.Fatalf("%d cells", len(tb.Cells))
	}
	for _, f := range []float64{0, 0.5} {
		checkCell(t, tb.Find("zkd", 1, f), inFlight, true)
		checkCell(t, tb.Find("zkd", 3, f), inFlight, false)
		if len(systems) > 1 {
			checkCell(t, tb.Find("zookeeper", 1, f), inFlight, true)
			checkCell(t, tb.Find("zookeeper", 3, f), inFlight, true)
		}
	}

	var md, cs, js, svg, capa bytes.Buffer
	if err := WriteMarkdown(&md, tb); err != nil {
		t.Fatal(err)
	}
	checkMarkdownTables(t, md.String())
	if strings.Contains(md.String(), "n/a") {
		t.Errorf("markdown has a cell that was not measured:\n%s", md.String())
	}
	if len(systems) > 1 && !strings.Contains(md.String(), "zkd / zookeeper") {
		t.Errorf("no ratio column:\n%s", md.String())
	}
	if err := WriteCSV(&cs, tb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 1+len(tb.Cells) {
		t.Errorf("CSV: %d rows, %v", len(rows), err)
	}
	if err := WriteJSON(&js, tb); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTableJSON(&js)
	if err != nil || back.Meta.Cores == 0 || back.Meta.Commit == "" || len(back.Cells) != len(tb.Cells) {
		t.Errorf("JSON: %v %+v", err, back.Meta)
	}
	if err := WriteSVG(&svg, tb); err != nil {
		t.Fatal(err)
	}
	if n := svgElements(t, svg.Bytes()); n["path"] < 1 {
		t.Errorf("SVG elements %v", n)
	}
	if err := WriteCapacity(&capa, tb, CapacityOptions{}); err != nil {
		t.Fatal(err)
	}
	checkMarkdownTables(t, capa.String())
	if !strings.Contains(capa.String(), "| zkd | 1 | 50% |") {
		t.Errorf("capacity report:\n%s", capa.String())
	}
	t.Logf("\n%s\n%s", md.String(), capa.String())
}

// TestLaunchers: zkd tries every size in 1..13 (a binary that is not
// there is an error, not "not available"), sizes outside 1..13 are
// refused, and a host list only fits its own size.
func TestLaunchers(t *testing.T) {
	for _, n := range []int{1, 5, 13} {
		_, err := ZkdLauncher{Bin: "/nonexistent"}.Launch(n)
		if err == nil || errors.Is(err, ErrEnsembleUnavailable) || !strings.Contains(err.Error(), "/nonexistent") {
			t.Errorf("zkd ensemble of %d from a missing binary: %v", n, err)
		}
	}
	for _, n := range []int{0, 14} {
		if _, err := (ZkdLauncher{}).Launch(n); err == nil || errors.Is(err, ErrEnsembleUnavailable) {
			t.Errorf("zkd ensemble of %d: %v", n, err)
		}
	}
	h := HostsLauncher{HostAddrs: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}}
	if _, err := h.Launch(1); !errors.Is(err, ErrEnsembleUnavailable) {
		t.Errorf("hosts of 3 launched as 1: %v", err)
	}
	c, err := h.Launch(3)
	if err != nil {
		t.Fatal(err)
	}
	if c.System() != "hosts" || len(c.Addrs()) != 3 || len(c.PIDs()) != 3 || c.Leader() != -1 || c.Stop() != nil {
		t.Errorf("hosts cluster %v %v %v %d", c.System(), c.Addrs(), c.PIDs(), c.Leader())
	}
	if knownPIDs(c.PIDs()) != nil {
		t.Error("unknown PIDs taken as known")
	}
}
