package bench

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CurveConfig is a latency-against-throughput curve: for each system, one
// cluster of Servers servers is loaded at a series of fixed rates (the
// paced generator charges a late request its wait, so the curve bends
// honestly near saturation).
type CurveConfig struct {
	Servers int
	Writes  float64
	Systems []Launcher
	Load    LoadConfig // template; Rate is set per point
	// Rates are absolute total requests/s, the same for every system.
	// When empty, Fractions of each system's own saturated throughput are
	// used (a saturated run comes first).
	Rates     []float64
	Fractions []float64
	Progress  *Progress
}

// DefaultCurveFractions are the load levels of a curve, as fractions of
// the saturated throughput.
var DefaultCurveFractions = []float64{0.1, 0.25, 0.5, 0.75, 0.9}

// CurvePoint is one rate-limited run.
type CurvePoint struct {
	TargetRate float64 `json:"target_rate"` // 0 for the saturated run
	Cell       Cell    `json:"cell"`
}

// Curve is a finished set of curves.
type Curve struct {
	Meta   Meta `json:"meta"`
	Params struct {
		Servers       int      `json:"servers"`
		WriteFraction float64  `json:"write_fraction"`
		Systems       []string `json:"systems"`
		TableParams
	} `json:"params"`
	Points []CurvePoint `json:"points"`
}

// RunCurve measures the curves.
func RunCurve(cfg CurveConfig) (*Curve, error) {
	if len(cfg.Systems) == 0 {
		return nil, errors.New("bench: curve needs systems")
	}
	if err := checkServers(cfg.Servers); err != nil {
		return nil, err
	}
	fractions := cfg.Fractions
	if len(cfg.Rates) == 0 && len(fractions) == 0 {
		fractions = DefaultCurveFractions
	}
	load := cfg.Load.withDefaults()
	cv := &Curve{Meta: CollectMeta()}
	cv.Params.Servers, cv.Params.WriteFraction = cfg.Servers, cfg.Writes
	cv.Params.TableParams = TableParams{Sessions: load.Sessions, Outstanding: load.Outstanding, ValueBytes: load.ValueBytes,
		Znodes: load.Znodes, WarmupSec: load.Warmup.Seconds(), DurationSec: load.Duration.Seconds()}
	for _, s := range cfg.Systems {
		cv.Params.Systems = append(cv.Params.Systems, s.System())
	}
	perSystem := len(cfg.Rates)
	if perSystem == 0 {
		perSystem = 1 + len(fractions)
	}
	pr := cfg.Progress
	pr.Plan(perSystem*len(cfg.Systems), load.Warmup+load.Duration)
	measured := 0
	for _, sys := range cfg.Systems {
		cluster, err := sys.Launch(cfg.Servers)
		if err != nil {
			status := launchStatus(err)
			for i := 0; i < perSystem; i++ {
				pr.Skip()
			}
			cv.Points = append(cv.Points, CurvePoint{Cell: Cell{System: sys.System(), Servers: cfg.Servers,
				WriteFraction: cfg.Writes, Status: status, Reason: err.Error(), Leader: -1}})
			continue
		}
		rates := cfg.Rates
		if len(rates) == 0 {
			pr.Begin(fmt.Sprintf("%s saturated", sys.System()))
			c := measureCell(cluster, load, cfg.Writes, pr)
			pr.End(c.OpsPerSec)
			cv.Points = append(cv.Points, CurvePoint{Cell: c})
			if !c.OK() {
				_ = cluster.Stop()
				for range fractions {
					pr.Skip()
				}
				continue
			}
			measured++
			for _, f := range fractions {
				rates = append(rates, f*c.OpsPerSec)
			}
		}
		for _, r := range rates {
			pr.Begin(fmt.Sprintf("%s at %s ops/s", sys.System(), fmtThousands(r)))
			l := load
			l.Rate = r
			c := measureCell(cluster, l, cfg.Writes, pr)
			pr.End(c.OpsPerSec)
			if c.OK() {
				measured++
			}
			cv.Points = append(cv.Points, CurvePoint{TargetRate: r, Cell: c})
		}
		_ = cluster.Stop()
	}
	pr.Finish()
	if measured == 0 {
		return cv, errors.New("bench: no point could be measured")
	}
	return cv, nil
}

// WriteCurveMarkdown lists every point: asked and achieved rate, and the
// latency percentiles per operation type.
func WriteCurveMarkdown(w io.Writer, cv *Curve) error { return writeCurveMarkdown(w, cv, true) }

func writeCurveMarkdown(w io.Writer, cv *Curve, withMeta bool) error {
	b := &strings.Builder{}
	p := cv.Params
	if withMeta {
		fmt.Fprintf(b, "commit `%s`, %s, started %s\n\n", cv.Meta.Commit, cv.Meta.Machine(), cv.Meta.Started.Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(b, "servers=%d writes=%s sessions=%d outstanding=%d value=%d B warmup=%gs duration=%gs",
		p.Servers, fmtPct(p.WriteFraction), p.Sessions, p.Outstanding, p.ValueBytes, p.WarmupSec, p.DurationSec)
	for _, n := range p.Notes {
		fmt.Fprintf(b, "; %s", n)
	}
	b.WriteString("\n\n| system | asked ops/s | achieved ops/s | read p50 | read p99 | read p99.9 | write p50 | write p99 | write p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|\n")
	notes := &reportNotes{}
	for _, pt := range cv.Points {
		c := pt.Cell
		asked := "saturated"
		if pt.TargetRate > 0 {
			asked = fmtThousands(pt.TargetRate)
		}
		if !c.OK() {
			fmt.Fprintf(b, "| %s | %s | %s (%d) | | | | | | | |\n", c.System, asked, c.Status, notes.ref(c.System+": "+c.Reason))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.System, asked, fmtThousands(c.OpsPerSec),
			latOrDash(c.Read, c.Read.P50), latOrDash(c.Read, c.Read.P99), latOrDash(c.Read, c.Read.P999),
			latOrDash(c.Write, c.Write.P50), latOrDash(c.Write, c.Write.P99), latOrDash(c.Write, c.Write.P999), fmtMs(c.All.Max))
	}
	b.WriteString("\nLatencies in ms. A paced request's latency counts from when it was due, so a server that falls behind is charged for the wait.\n")
	notes.write(b)
	_, err := io.WriteString(w, b.String())
	return err
}

func latOrDash(l Latency, v int64) string {
	if l.Count == 0 {
		return "–"
	}
	return fmtMs(v)
}

// WriteCurveCSV writes one row per point.
func WriteCurveCSV(w io.Writer, cv *Curve) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"system", "servers", "write_fraction", "target_rate", "status", "ops_per_s",
		"read_p50_us", "read_p99_us", "read_p999_us", "write_p50_us", "write_p99_us", "write_p999_us", "all_p50_us", "all_p99_us", "max_us",
		"client_cpu_share", "reason"})
	for _, pt := range cv.Points {
		c := pt.Cell
		_ = cw.Write([]string{c.System, strconv.Itoa(c.Servers), csvFloat(c.WriteFraction), csvFloat(pt.TargetRate), c.Status, csvFloat(c.OpsPerSec),
			csvInt(c.Read.P50), csvInt(c.Read.P99), csvInt(c.Read.P999), csvInt(c.Write.P50), csvInt(c.Write.P99), csvInt(c.Write.P999),
			csvInt(c.All.P50), csvInt(c.All.P99), csvInt(c.All.Max), csvFloat(c.ClientCPUShare), c.Reason})
	}
	cw.Flush()
	return cw.Error()
}

// WriteCurveSVG draws latency (log scale) against achieved throughput:
// p50 and p99 of every operation, one colour per system.
func WriteCurveSVG(w io.Writer, cv *Curve) error {
	c := &svgChart{
		title:  fmt.Sprintf("Latency vs throughput, %d server%s, %s writes", cv.Params.Servers, pluralS(cv.Params.Servers), fmtPct(cv.Params.WriteFraction)),
		xLabel: "achieved operations per second", yLabel: "latency (ms)", logY: true,
	}
	p := svgPanel{note: "no point measured"}
	for i, sys := range cv.Params.Systems {
		p50 := svgSeries{name: sys + " p50", color: svgPalette[i%len(svgPalette)]}
		p99 := svgSeries{name: sys + " p99", color: svgPalette[i%len(svgPalette)], dashed: true}
		for _, pt := range cv.Points {
			if pt.Cell.System != sys || !pt.Cell.OK() {
				continue
			}
			p50.pts = append(p50.pts, svgPoint{pt.Cell.OpsPerSec, float64(pt.Cell.All.P50) / 1000})
			p99.pts = append(p99.pts, svgPoint{pt.Cell.OpsPerSec, float64(pt.Cell.All.P99) / 1000})
		}
		p.svgSeries = append(p.svgSeries, p50, p99)
	}
	c.panels = []svgPanel{p}
	return c.write(w)
}
