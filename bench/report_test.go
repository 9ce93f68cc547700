package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// reportTable is a synthetic table with zkd measured standalone only and
// an ensemble cell it cannot run, as today.
func reportTable() *Table {
	tb := synthTable([]int{1, 3}, []float64{0, 0.5, 1}, 2, map[string]synthCosts{"zkd": zkdCosts, "zookeeper": zkCosts}, 0.5e-6)
	var cells []Cell
	for _, c := range tb.Cells {
		if c.System == "zkd" && c.Servers == 3 {
			c = Cell{System: "zkd", Servers: 3, WriteFraction: c.WriteFraction, Status: StatusUnavailable, Leader: -1,
				Reason: "not available: zkd has no replication yet"}
		}
		cells = append(cells, c)
	}
	tb.Cells = cells
	tb.Meta.Started = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return tb
}

// checkMarkdownTables: every Markdown table row has as many cells as its
// header.
func checkMarkdownTables(t *testing.T, md string) int {
	t.Helper()
	tables, cols := 0, -1
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = -1
			continue
		}
		n := strings.Count(line, "|")
		if cols < 0 {
			cols = n
			tables++
			continue
		}
		if n != cols {
			t.Errorf("line %d has %d pipes, its header %d: %q", i+1, n, cols, line)
		}
	}
	return tables
}

func TestWriteMarkdown(t *testing.T) {
	tb := reportTable()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, tb); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if n := checkMarkdownTables(t, md); n != 5 {
		t.Errorf("%d tables, want 5 (side by side, one per system, latency, load generator)", n)
	}
	for _, want := range []string{
		"| servers | writes | zkd ops/s | zookeeper ops/s | zkd / zookeeper | zkd p99 ms | zookeeper p99 ms |",
		"| 3 | 0% | n/a (1) |",
		"1. zkd: not available: zkd has no replication yet",
		"commit `abc1234`",
		"| zkd | 1 | 50% | setData |",
		"client CPU share",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// The ratio row for the standalone cells.
	zkd, zk := tb.Find("zkd", 1, 0), tb.Find("zookeeper", 1, 0)
	if want := "| " + fmtThousands(zkd.OpsPerSec) + " | " + fmtThousands(zk.OpsPerSec) + " | "; !strings.Contains(md, want) {
		t.Errorf("markdown lacks the standalone row %q", want)
	}
}

func TestWriteCSV(t *testing.T) {
	tb := reportTable()
	var b bytes.Buffer
	if err := WriteCSV(&b, tb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(tb.Cells) {
		t.Fatalf("%d rows for %d cells", len(rows), len(tb.Cells))
	}
	if !reflect.DeepEqual(rows[0], csvHeader) {
		t.Errorf("header %v", rows[0])
	}
	for _, r := range rows[1:] {
		if len(r) != len(csvHeader) {
			t.Errorf("row of %d fields: %v", len(r), r)
		}
	}
	if rows[4][0] != "zkd" || rows[4][1] != "3" || rows[4][3] != StatusUnavailable {
		t.Errorf("row 4 %v, want the n/a zkd ensemble cell", rows[4])
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	tb := reportTable()
	var b bytes.Buffer
	if err := WriteJSON(&b, tb); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTableJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tb) {
		t.Errorf("round trip differs:\n%+v\n%+v", got.Cells[0], tb.Cells[0])
	}
}

// svgElements parses an SVG document and counts its elements by name.
func svgElements(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	counts := map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			if se.Name.Local == "svg" && se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace %q", se.Name.Space)
			}
		}
	}
	return counts
}

func TestWriteSVG(t *testing.T) {
	tb := reportTable()
	var b bytes.Buffer
	if err := WriteSVG(&b, tb); err != nil {
		t.Fatal(err)
	}
	n := svgElements(t, b.Bytes())
	// zkd: one line (1 server); zookeeper: two (1 and 3 servers).
	if n["svg"] != 1 || n["path"] != 3 || n["circle"] != 9 || n["g"] != 2 {
		t.Errorf("elements %v", n)
	}
	if !strings.Contains(b.String(), "reads (%)") {
		t.Error("no x label")
	}
}

func TestWriteCapacity(t *testing.T) {
	tb := reportTable()
	var b bytes.Buffer
	if err := WriteCapacity(&b, tb, CapacityOptions{Cores: []int{8}}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	checkMarkdownTables(t, md)
	for _, want := range []string{
		"What the model assumes", "| zkd | 1 | 0% |", "in the leader's cost", "not measured",
		"Predicted ops/s for zookeeper, N servers with 8 cores each", "txns/fsync",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("capacity report lacks %q:\n%s", want, md)
		}
	}
	// The synthetic cells are exact: every check within a percent.
	if strings.Contains(md, "| +1") || strings.Contains(md, "| -1") {
		t.Errorf("large errors in:\n%s", md)
	}
}

// TestClientBoundWarning: a cell where the generator used more CPU than
// the servers carries a warning, and the report prints it.
func TestClientBoundWarning(t *testing.T) {
	res := &LoadResult{Reads: 1000, Writes: 0, Elapsed: time.Second, ReadLat: newHist(), WriteLat: newHist(),
		ClientCPU: 900 * time.Millisecond, ServerCPU: []time.Duration{300 * time.Millisecond}}
	_ = res.ReadLat.RecordValue(100)
	c := cellFromResult(Cell{System: "zkd", Servers: 1}, res)
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "bounded by the client") {
		t.Fatalf("warnings %v", c.Warnings)
	}
	if c.ClientCPUShare != 0.75 {
		t.Errorf("client share %g", c.ClientCPUShare)
	}
	tb := &Table{Params: TableParams{Servers: []int{1}, Writes: []float64{0}, Systems: []string{"zkd"}}, Cells: []Cell{c}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, tb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Warnings:") || !strings.Contains(b.String(), "| 75% |") {
		t.Errorf("report:\n%s", b.String())
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtThousands(964910.4), "964,910"},
		{fmtThousands(999), "999"},
		{fmtThousands(1000), "1,000"},
		{fmtThousands(-1234567), "-1,234,567"},
		{fmtPct(0.01), "1%"},
		{fmtPct(0.005), "0.5%"},
		{fmtPct(1), "100%"},
		{fmtMs(1234), "1.23"},
		{axisLabel(1500000), "1.5M"},
		{axisLabel(20000), "20k"},
		{axisLabel(0.25), "0.25"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
