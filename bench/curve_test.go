package bench

import (
	"bytes"
	"encoding/csv"
	"math"
	"testing"
	"time"
)

// TestRunCurve: a saturated run, then runs paced at fractions of it that
// achieve about their rate, drawn as a well-formed SVG.
func TestRunCurve(t *testing.T) {
	cv, err := RunCurve(CurveConfig{
		Servers: 1, Writes: 0.2, Systems: []Launcher{inprocLauncher{t}}, Fractions: []float64{0.2, 0.5},
		Load: LoadConfig{Sessions: 4, Outstanding: 8, ValueBytes: 128, Znodes: 10,
			Warmup: 200 * time.Millisecond, Duration: 800 * time.Millisecond, Seed: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cv.Points) != 3 {
		t.Fatalf("%d points", len(cv.Points))
	}
	sat := cv.Points[0].Cell.OpsPerSec
	for i, pt := range cv.Points {
		c := pt.Cell
		if !c.OK() {
			t.Fatalf("point %d: %s", i, c.Reason)
		}
		if c.All.P50 <= 0 || c.All.P50 > c.All.P99 || c.All.P99 > c.All.Max {
			t.Errorf("point %d latency %+v", i, c.All)
		}
		if i == 0 {
			continue
		}
		if want := []float64{0.2, 0.5}[i-1] * sat; math.Abs(pt.TargetRate-want) > 1e-6*want {
			t.Errorf("point %d target %g, want %g", i, pt.TargetRate, want)
		}
		if r := c.OpsPerSec / pt.TargetRate; r < 0.7 || r > 1.15 {
			t.Errorf("point %d: %.0f ops/s at a target of %.0f", i, c.OpsPerSec, pt.TargetRate)
		}
	}
	var md, cs, svg bytes.Buffer
	if err := WriteCurveMarkdown(&md, cv); err != nil {
		t.Fatal(err)
	}
	if n := checkMarkdownTables(t, md.String()); n != 1 {
		t.Errorf("%d tables", n)
	}
	if err := WriteCurveCSV(&cs, cv); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&cs).ReadAll(); err != nil || len(rows) != 4 {
		t.Errorf("CSV %d rows, %v", len(rows), err)
	}
	if err := WriteCurveSVG(&svg, cv); err != nil {
		t.Fatal(err)
	}
	if n := svgElements(t, svg.Bytes()); n["path"] != 2 || n["circle"] != 6 {
		t.Errorf("SVG elements %v", n)
	}
}
