package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"zkd/bench"
)

// runLatency is "zkbench latency": the paper's create/delete benchmark.
func runLatency(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zkbench latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("servers", "1,3,5,7,9", "ensemble sizes (the paper: 3, 5, 7, 9)")
	workers := fs.String("workers", "1,10,20", "worker counts; each worker is one session")
	creates := fs.Int("creates", 2000, "creates per worker (the paper: 50,000)")
	size := fs.Int("size", 0, "data bytes of each create")
	maxDur := fs.Duration("max-duration", 5*time.Minute, "bound on each cell")
	sys := addSystemFlags(fs)
	out := fs.String("out", "", "directory for latency.md, latency.csv, latency.json")
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
	ws, err := parseInts(*workers)
	if err != nil {
		return fmt.Errorf("-workers: %w", err)
	}
	launchers, notes, cleanup, err := sys.launchers(fs)
	defer cleanup()
	if err != nil {
		return err
	}
	t, runErr := bench.RunCreateTable(bench.CreateTableConfig{
		Servers: sizes, Workers: ws, Systems: launchers, CreatesPerWorker: *creates, ValueBytes: *size,
		MaxDuration: *maxDur, Progress: progressFor(stderr),
	})
	if t == nil {
		return runErr
	}
	t.Params.Notes = notes
	t.Meta.Command = commandOf("latency", args)
	var md strings.Builder
	if err := bench.WriteCreateMarkdown(&md, t); err != nil {
		return err
	}
	fmt.Fprint(stdout, md.String())
	if err := writeFiles(*out, map[string]func(io.Writer) error{
		"latency.md":   func(w io.Writer) error { _, err := io.WriteString(w, md.String()); return err },
		"latency.csv":  func(w io.Writer) error { return bench.WriteCreateCSV(w, t) },
		"latency.json": func(w io.Writer) error { return bench.WriteJSON(w, t) },
	}); err != nil {
		return err
	}
	for _, c := range t.Cells {
		if c.Status == bench.StatusError {
			fmt.Fprintf(stderr, "error: %s servers=%d workers=%d: %s\n", c.System, c.Servers, c.Workers, c.Reason)
		}
	}
	return runErr
}
