package bench

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProgress: the line names the cell, its phase and ops/s, and a time
// left that shrinks as cells finish; Finish clears it.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(&out, func() time.Time { return now })
	p.Plan(4, 10*time.Second)
	p.Skip() // an n/a cell
	p.Begin("zkd servers=1 writes=0%")
	now = now.Add(5 * time.Second)
	p.Tick("measure", 12345.6)
	line := out.String()[strings.LastIndexByte(out.String(), '\r')+1:]
	if want := "cell 2 of 4: zkd servers=1 writes=0%: measure 12346 ops/s, about 25s left"; strings.TrimSpace(line) != want {
		t.Errorf("line %q, want %q", line, want)
	}
	now = now.Add(15 * time.Second) // the cell took 20 s
	p.End(20000)
	if left := p.Left(); left != 40*time.Second {
		t.Errorf("left %v after a 20 s cell with 2 to go, want 40s", left)
	}
	p.Finish()
	if !strings.HasSuffix(out.String(), "\r") {
		t.Errorf("Finish did not clear the line: %q", out.String())
	}
}

// TestProgressQuiet: a nil Progress (output not a terminal) does nothing,
// and a regular file is not a terminal.
func TestProgressQuiet(t *testing.T) {
	var p *Progress
	p.Plan(3, time.Second)
	p.Begin("x")
	p.Tick("warmup", 1)
	p.End(1)
	p.Skip()
	p.Finish()
	if p.Left() != 0 {
		t.Error("nil progress has time left")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if NewProgress(f) != nil {
		t.Error("progress on a regular file")
	}
}
