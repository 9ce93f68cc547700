package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"zkd/bench"
)

// runTable is "zkbench table": the paper's throughput table.
func runTable(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zkbench table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("servers", "1,3,5,7,9,13", "ensemble sizes (1..13); larger sizes start that many servers of each system on this machine")
	writes := fs.String("writes", "0,0.01,0.1,0.2,0.5,1", "write fractions (0..1, or with %)")
	load := addLoadFlags(fs)
	sys := addSystemFlags(fs)
	out := fs.String("out", "", "directory for table.md, table.csv, table.json, table.svg, capacity.md, capacity.json")
	capFlags := addCapacityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	sizes, err := ensembleSizes(fs, *servers, sys)
	if err != nil {
		return err
	}
	fractions, err := parseFractions(*writes)
	if err != nil {
		return err
	}
	capOpts, err := capFlags.options()
	if err != nil {
		return err
	}
	launchers, notes, cleanup, err := sys.launchers(fs)
	defer cleanup()
	if err != nil {
		return err
	}
	t, runErr := bench.RunTable(bench.TableConfig{
		Servers: sizes, Writes: fractions, Systems: launchers, Load: load.config(), Progress: progressFor(stderr),
	})
	if t == nil {
		return runErr
	}
	t.Params.Notes = notes
	t.Meta.Command = commandOf("table", args)
	var md, capMd strings.Builder
	if err := bench.WriteMarkdown(&md, t); err != nil {
		return err
	}
	if err := bench.WriteCapacity(&capMd, t, capOpts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n## Capacity planning\n\n%s", md.String(), capMd.String())
	err = writeFiles(*out, map[string]func(io.Writer) error{
		"table.md":      func(w io.Writer) error { _, err := io.WriteString(w, md.String()); return err },
		"capacity.md":   func(w io.Writer) error { _, err := io.WriteString(w, capMd.String()); return err },
		"table.csv":     func(w io.Writer) error { return bench.WriteCSV(w, t) },
		"table.json":    func(w io.Writer) error { return bench.WriteJSON(w, t) },
		"table.svg":     func(w io.Writer) error { return bench.WriteSVG(w, t) },
		"capacity.json": func(w io.Writer) error { return bench.WriteJSON(w, bench.BuildCapacity(t, capOpts)) },
	})
	if err != nil {
		return err
	}
	for _, c := range t.Cells {
		for _, w := range c.Warnings {
			fmt.Fprintf(stderr, "warning: %s servers=%d writes=%g: %s\n", c.System, c.Servers, c.WriteFraction, w)
		}
		if c.Status == bench.StatusError {
			fmt.Fprintf(stderr, "error: %s servers=%d writes=%g: %s\n", c.System, c.Servers, c.WriteFraction, c.Reason)
		}
	}
	return runErr
}
