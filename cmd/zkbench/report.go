package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"zkd/bench"
)

// runReport is "zkbench report": BENCHMARKS.md sections regenerated from
// the JSON files of earlier runs, so the figures there are the tool's
// output rather than retyped.
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zkbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	table := fs.String("table", "", "table.json of a zkbench table run")
	figure := fs.String("figure", "", "path of the table's SVG, for a Markdown image link")
	latency := fs.String("latency", "", "latency.json of a zkbench latency run")
	curve := fs.String("curve", "", "curve.json of a zkbench curve run")
	curveFigure := fs.String("curve-figure", "", "path of the curve's SVG")
	capFlags := addCapacityFlags(fs)
	title := fs.String("title", "Throughput table (the paper's Figure 5 and table), side by side with Apache ZooKeeper", "heading of the table section")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *table == "" && *latency == "" && *curve == "" {
		return errors.New("report needs -table, -latency or -curve")
	}
	capOpts, err := capFlags.options()
	if err != nil {
		return err
	}
	if *table != "" {
		var t bench.Table
		if err := readJSON(*table, &t); err != nil {
			return err
		}
		if err := bench.WriteTableSection(stdout, *title, &t, *figure, capOpts); err != nil {
			return err
		}
	}
	if *latency != "" {
		var t bench.CreateTable
		if err := readJSON(*latency, &t); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := bench.WriteCreateSection(stdout, "Latency: synchronous creates, asynchronous deletes (the paper's section 5.2)", &t); err != nil {
			return err
		}
	}
	if *curve != "" {
		var cv bench.Curve
		if err := readJSON(*curve, &cv); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := bench.WriteCurveSection(stdout, "Latency against throughput", &cv, *curveFigure); err != nil {
			return err
		}
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
