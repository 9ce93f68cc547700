package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/tools/refzk"
)

var zkdBin string

// TestMain builds cmd/zkd once for the tests that start it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zkbench-test-")
	if err != nil {
		panic(err)
	}
	zkdBin, err = bench.BuildZkd("../..", dir)
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCmd(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("zkbench %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

var shortLoad = []string{"-sessions", "4", "-outstanding", "8", "-size", "256", "-znodes", "10", "-warmup", "200ms", "-duration", "700ms"}

// TestTableCommand: "zkbench table" prints the report, writes every file,
// and "zkbench report" turns its JSON into a BENCHMARKS.md section.
func TestTableCommand(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"table", "-systems", "zkd", "-zkd-bin", zkdBin, "-servers", "1,3", "-writes", "0,100%", "-out", dir}, shortLoad...)
	out, _ := runCmd(t, args...)
	for _, want := range []string{"| servers | writes | zkd ops/s |", "| 3 | 0% | ", "## Capacity planning", "What the model assumes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"table.md", "table.csv", "table.json", "table.svg", "capacity.md", "capacity.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "table.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tb bench.Table
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatal(err)
	}
	if c := tb.Find("zkd", 1, 1); c == nil || !c.OK() || c.Writes == 0 || c.Reads != 0 {
		t.Errorf("all-writes cell %+v", c)
	}
	// A 3-server zkd ensemble is measured like a standalone server.
	if c := tb.Find("zkd", 3, 1); c == nil || !c.OK() || c.Writes == 0 || c.Reads != 0 {
		t.Errorf("3-server all-writes cell %+v", c)
	}
	if !strings.Contains(tb.Meta.Command, "table -systems zkd") {
		t.Errorf("command %q", tb.Meta.Command)
	}
	sec, _ := runCmd(t, "report", "-table", filepath.Join(dir, "table.json"), "-figure", "bench/table.svg")
	for _, want := range []string{"## Throughput table", "- command:", "![", "### Capacity planning"} {
		if !strings.Contains(sec, want) {
			t.Errorf("section lacks %q:\n%s", want, sec)
		}
	}
}

func TestLatencyCommand(t *testing.T) {
	dir := t.TempDir()
	out, _ := runCmd(t, "latency", "-systems", "zkd", "-zkd-bin", zkdBin, "-servers", "1", "-workers", "1,2", "-creates", "100", "-out", dir)
	if !strings.Contains(out, "| 1 | 2 |") || !strings.Contains(out, "zkd creates/s") {
		t.Errorf("output:\n%s", out)
	}
	sec, _ := runCmd(t, "report", "-latency", filepath.Join(dir, "latency.json"))
	if !strings.Contains(sec, "## Latency: synchronous creates") {
		t.Errorf("section:\n%s", sec)
	}
}

func TestCurveCommand(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"curve", "-systems", "zkd", "-zkd-bin", zkdBin, "-fractions", "0.5", "-writes", "10%", "-out", dir}, shortLoad...)
	out, _ := runCmd(t, args...)
	if !strings.Contains(out, "| zkd | saturated |") || strings.Count(out, "| zkd |") != 2 {
		t.Errorf("output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "curve.svg")); err != nil {
		t.Error(err)
	}
}

// TestSideBySideMode: the original flags still work (BENCHMARKS.md cites
// them).
func TestSideBySideMode(t *testing.T) {
	out, _ := runCmd(t, "-target", "zkd", "-zkd-bin", zkdBin, "-sessions", "2", "-outstanding", "4",
		"-warmup", "100ms", "-duration", "500ms", "-writes", "0,1")
	for _, want := range []string{"| server | writes | ops/s |", "| zkd | 0% |", "| zkd | 100% |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"nonsense"},
		{"table", "-writes", "1.5"},
		{"table", "-systems", "etcd"},
		{"table", "-systems", "hosts"},
		{"table", "-servers", "x"},
		{"curve", "-writes", "0.1,0.2"},
		{"report"},
	} {
		var out, errOut bytes.Buffer
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("zkbench %q: no error", args)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := parseFractions("0, 1%,0.5,100%")
	if err != nil || !reflect.DeepEqual(got, []float64{0, 0.01, 0.5, 1}) {
		t.Errorf("parseFractions: %v %v", got, err)
	}
	for _, bad := range []string{"", "-0.1", "101%", "x"} {
		if _, err := parseFractions(bad); err == nil {
			t.Errorf("parseFractions(%q): no error", bad)
		}
	}
	if got, err := parseInts("1,3, 5"); err != nil || !reflect.DeepEqual(got, []int{1, 3, 5}) {
		t.Errorf("parseInts: %v %v", got, err)
	}
	if got, err := parseInts(""); err != nil || got != nil {
		t.Errorf("parseInts empty: %v %v", got, err)
	}
}

// TestTableHostsCommand: an ensemble already running, named by its
// addresses (and PIDs, for CPU figures), is measured as it is and left
// running.
func TestTableHostsCommand(t *testing.T) {
	p, err := bench.StartZkd(zkdBin)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	args := append([]string{"table", "-hosts", p.Addr(), "-hosts-name", "mine", "-hosts-pids", strconv.Itoa(p.PID()), "-writes", "0.5"}, shortLoad...)
	out, _ := runCmd(t, args...)
	if !strings.Contains(out, "| servers | writes | mine ops/s | mine p99 ms |") || !strings.Contains(out, "| 1 | 50% |") {
		t.Errorf("output:\n%s", out)
	}
	if strings.Contains(out, "| mine | 1 | 50% | – |") {
		t.Errorf("no client CPU share with PIDs given:\n%s", out)
	}
	if r, err := refzk.FourLetter(p.Addr(), "ruok", time.Second); err != nil || r != "imok" {
		t.Errorf("the ensemble did not survive the run: %q %v", r, err)
	}
}
