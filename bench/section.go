package bench

import (
	"fmt"
	"io"
	"strings"
)

// The Write*Section functions print a run as a section of BENCHMARKS.md:
// a heading, the commit, the machine and the exact command, then the
// report. zkbench report regenerates them from the JSON files a run wrote,
// so the figures in BENCHMARKS.md are the tool's output, not retyped.

func writeSectionHead(b *strings.Builder, title string, m Meta, figure string) {
	fmt.Fprintf(b, "## %s\n\n", title)
	fmt.Fprintf(b, "- commit: `%s`, run %s\n", m.Commit, m.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "- machine: %s (%s)\n", m.Machine(), m.Hostname)
	if m.Java != "" {
		fmt.Fprintf(b, "- Java for Apache ZooKeeper: %s\n", m.Java)
	}
	if m.Command != "" {
		fmt.Fprintf(b, "- command:\n\n```sh\n%s\n```\n", m.Command)
	}
	b.WriteString("\n")
	if figure != "" {
		fmt.Fprintf(b, "![%s](%s)\n\n", title, figure)
	}
}

// WriteTableSection writes a throughput table run with its capacity
// report; figure, when not empty, is the path of its SVG.
func WriteTableSection(w io.Writer, title string, t *Table, figure string, opts CapacityOptions) error {
	b := &strings.Builder{}
	writeSectionHead(b, title, t.Meta, figure)
	if err := writeMarkdown(b, t, false); err != nil {
		return err
	}
	b.WriteString("\n### Capacity planning\n\n")
	if err := WriteCapacity(b, t, opts); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCreateSection writes a create/delete latency run.
func WriteCreateSection(w io.Writer, title string, t *CreateTable) error {
	b := &strings.Builder{}
	writeSectionHead(b, title, t.Meta, "")
	if err := writeCreateMarkdown(b, t, false); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCurveSection writes a latency-vs-throughput run.
func WriteCurveSection(w io.Writer, title string, cv *Curve, figure string) error {
	b := &strings.Builder{}
	writeSectionHead(b, title, cv.Meta, figure)
	if err := writeCurveMarkdown(b, cv, false); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}
