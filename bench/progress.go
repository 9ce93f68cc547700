package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress reports a long run on a terminal: which cell of how many, the
// current ops/s and an estimate of the time left, rewritten in place on
// one line. A nil *Progress is silent, and NewProgress returns nil when w
// is not a terminal, so output redirected to a file stays clean.
//
// Its methods are safe to call from several goroutines.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	total   int
	done    int
	perCell time.Duration // the estimate before any cell has finished
	spent   time.Duration // wall time of the cells measured so far
	timed   int           // cells measured so far
	label   string
	cur     int // 1-based index of the cell under way
	began   time.Time
	lastLen int
}

// NewProgress returns a Progress writing to f when f is a terminal, else
// nil.
func NewProgress(f *os.File) *Progress {
	if !IsTerminal(f) {
		return nil
	}
	return newProgress(f, time.Now)
}

func newProgress(w io.Writer, now func() time.Time) *Progress {
	return &Progress{w: w, now: now}
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Plan sets the number of cells and the expected wall time of one.
func (p *Progress) Plan(cells int, perCell time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.done, p.perCell = cells, 0, perCell
}

// Begin starts the next cell.
func (p *Progress) Begin(label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.began, p.cur = label, p.now(), p.done+1
	p.draw("starting")
}

// Tick shows the current phase and throughput of the cell under way.
func (p *Progress) Tick(phase string, opsPerSec float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(fmt.Sprintf("%s %.0f ops/s", phase, opsPerSec))
}

// End finishes the cell under way.
func (p *Progress) End(opsPerSec float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.timed++
	p.spent += p.now().Sub(p.began)
	p.began = time.Time{} // no cell under way
	p.draw(fmt.Sprintf("done %.0f ops/s", opsPerSec))
}

// Skip counts a cell that was not measured.
func (p *Progress) Skip() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
}

// Finish clears the progress line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.lastLen, "")
		p.lastLen = 0
	}
}

// Left estimates the time left: the cells still to run times the mean
// wall time of a measured cell so far (or the planned time per cell).
func (p *Progress) Left() time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.left()
}

func (p *Progress) left() time.Duration {
	per := p.perCell
	if p.timed > 0 {
		per = p.spent / time.Duration(p.timed)
	}
	remaining := time.Duration(max(p.total-p.done, 0)) * per
	if !p.began.IsZero() && p.done < p.total {
		// Part of the current cell is behind us.
		remaining -= min(p.now().Sub(p.began), per)
	}
	return max(remaining, 0)
}

func (p *Progress) draw(status string) {
	line := fmt.Sprintf("cell %d of %d: %s: %s, about %s left", p.cur, p.total, p.label, status,
		p.left().Round(time.Second))
	pad := max(p.lastLen-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%*s", line, pad, "")
	p.lastLen = len(line)
}
