package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// svgChart is a row of line-chart panels drawn as standalone SVG with no
// dependencies: linear x, linear or logarithmic y, a legend per panel.
type svgChart struct {
	title  string
	xLabel string
	yLabel string
	logY   bool
	panels []svgPanel
}

type svgPanel struct {
	title     string
	svgSeries []svgSeries
	note      string // shown when the panel has no points
}

type svgSeries struct {
	name   string
	color  string
	dashed bool
	pts    []svgPoint
}

type svgPoint struct{ x, y float64 }

// Layout of one panel, in SVG user units.
const (
	panelW   = 460
	panelH   = 340
	marginL  = 70
	marginR  = 120 // legend
	marginT  = 50
	marginB  = 50
	ticksMax = 6
)

var svgPalette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

func (c *svgChart) write(w io.Writer) error {
	b := &strings.Builder{}
	width := panelW * max(len(c.panels), 1)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, panelH+20, width, panelH+20)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, panelH+20)
	fmt.Fprintf(b, `<text x="%d" y="18" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", width/2, xmlEsc(c.title))
	// Each panel has its own y range: systems an order of magnitude apart
	// would otherwise flatten the slower one's shape; the tables carry the
	// ratio. The x range is shared.
	xmin, xmax, _, _ := c.ranges(c.panels)
	for i, p := range c.panels {
		_, _, ymin, ymax := c.ranges([]svgPanel{p})
		c.writePanel(b, i*panelW, p, xmin, xmax, ymin, ymax)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (c *svgChart) ranges(panels []svgPanel) (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range panels {
		for _, s := range p.svgSeries {
			for _, pt := range s.pts {
				if c.logY && pt.y <= 0 {
					continue
				}
				xmin, xmax = math.Min(xmin, pt.x), math.Max(xmax, pt.x)
				ymin, ymax = math.Min(ymin, pt.y), math.Max(ymax, pt.y)
			}
		}
	}
	if math.IsInf(xmin, 1) {
		return 0, 1, 0, 1
	}
	if xmin == xmax {
		xmin, xmax = xmin-1, xmax+1
	}
	if c.logY {
		ymin = math.Pow(10, math.Floor(math.Log10(ymin)))
		ymax = math.Pow(10, math.Ceil(math.Log10(ymax)))
		if ymin == ymax {
			ymax = ymin * 10
		}
		return xmin, xmax, ymin, ymax
	}
	ymin = 0
	ymax = svgNiceCeil(ymax)
	if ymax <= 0 {
		ymax = 1
	}
	return xmin, xmax, ymin, ymax
}

func (c *svgChart) writePanel(b *strings.Builder, x0 int, p svgPanel, xmin, xmax, ymin, ymax float64) {
	left, top := float64(x0+marginL), float64(marginT)
	w, h := float64(panelW-marginL-marginR), float64(panelH-marginT-marginB)
	sx := func(x float64) float64 { return left + (x-xmin)/(xmax-xmin)*w }
	sy := func(y float64) float64 {
		if c.logY {
			return top + h - (math.Log10(y)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))*h
		}
		return top + h - (y-ymin)/(ymax-ymin)*h
	}
	fmt.Fprintf(b, `<g class="panel"><text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%s</text>`+"\n", left+w/2, top-12, xmlEsc(p.title))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", left, top, w, h)
	for _, v := range svgLinearTicks(xmin, xmax) {
		x := sx(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			x, top, x, top+h, x, top+h+16, xmlEsc(axisLabel(v)))
	}
	yt := svgLinearTicks(ymin, ymax)
	if c.logY {
		yt = svgLogTicks(ymin, ymax)
	}
	for _, v := range yt {
		y := sy(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, y, left+w, y, left-6, y+4, xmlEsc(axisLabel(v)))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+w/2, top+h+36, xmlEsc(c.xLabel))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		left-52, top+h/2, left-52, top+h/2, xmlEsc(c.yLabel))
	drawn := 0
	for _, s := range p.svgSeries {
		pts := make([]svgPoint, 0, len(s.pts))
		for _, pt := range s.pts {
			if !c.logY || pt.y > 0 {
				pts = append(pts, pt)
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].x < pts[b].x })
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var path strings.Builder
		for j, pt := range pts {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, sx(pt.x), sy(pt.y))
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.TrimSpace(path.String()), s.color, dash)
		for _, pt := range pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", sx(pt.x), sy(pt.y), s.color)
		}
		ly := top + 10 + float64(drawn)*18
		lx := left + w + 10
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			lx, ly, lx+22, ly, s.color, dash, lx+27, ly+4, xmlEsc(s.name))
		drawn++
	}
	if drawn == 0 && p.note != "" {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#888">%s</text>`+"\n", left+w/2, top+h/2, xmlEsc(p.note))
	}
	b.WriteString("</g>\n")
}

func xmlEsc(s string) string { return html.EscapeString(s) }

// svgNiceCeil rounds v up to 1, 2 or 5 times a power of ten.
func svgNiceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// svgLinearTicks returns at most ticksMax round values in [lo, hi].
func svgLinearTicks(lo, hi float64) []float64 {
	step := svgNiceCeil((hi - lo) / (ticksMax - 1))
	if step <= 0 {
		return []float64{lo}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(out) < 2*ticksMax; v += step {
		out = append(out, v)
	}
	return out
}

func svgLogTicks(lo, hi float64) []float64 {
	var out []float64
	for v := lo; v <= hi*1.0001 && len(out) < 20; v *= 10 {
		out = append(out, v)
	}
	return out
}

// short formats an axis value: 1500000 → "1.5M", 0.25 → "0.25".
func axisLabel(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return svgTrimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e3:
		return svgTrimZeros(fmt.Sprintf("%.2f", v/1e3)) + "k"
	default:
		return svgTrimZeros(fmt.Sprintf("%.3f", v))
	}
}

func svgTrimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// WriteSVG draws the paper's Figure 5 shape from a table: throughput
// against the percentage of reads, one line per ensemble size, one panel
// per system (each with its own y scale).
func WriteSVG(w io.Writer, t *Table) error {
	c := &svgChart{title: "Saturated throughput vs read percentage", xLabel: "reads (%)", yLabel: "operations per second"}
	for _, sys := range t.SystemNames() {
		p := svgPanel{title: sys, note: "no cell measured"}
		for i, n := range t.Params.Servers {
			s := svgSeries{name: fmt.Sprintf("%d server%s", n, pluralS(n)), color: svgPalette[i%len(svgPalette)]}
			for _, f := range t.Params.Writes {
				if cell := t.Find(sys, n, f); cell != nil && cell.OK() {
					s.pts = append(s.pts, svgPoint{x: 100 * (1 - f), y: cell.OpsPerSec})
				}
			}
			p.svgSeries = append(p.svgSeries, s)
		}
		c.panels = append(c.panels, p)
	}
	return c.write(w)
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
