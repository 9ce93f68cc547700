package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"zkd/bench"
)

// runCurve is "zkbench curve": latency against throughput.
func runCurve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zkbench curve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.Int("servers", 1, "ensemble size")
	writes := fs.String("writes", "0.2", "write fraction")
	rates := fs.String("rates", "", "total requests/s, the same for every system (default: -fractions of each system's saturated throughput)")
	fractions := fs.String("fractions", "0.1,0.25,0.5,0.75,0.9", "load levels as fractions of the saturated throughput, when -rates is not given")
	load := addLoadFlags(fs)
	sys := addSystemFlags(fs)
	out := fs.String("out", "", "directory for curve.md, curve.csv, curve.json, curve.svg")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	wf, err := parseFractions(*writes)
	if err != nil || len(wf) != 1 {
		return fmt.Errorf("-writes: one fraction, got %q", *writes)
	}
	rs, err := parseFloats(*rates)
	if err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	fr, err := parseFloats(*fractions)
	if err != nil {
		return fmt.Errorf("-fractions: %w", err)
	}
	n := *servers
	if sys.hosts != "" && !flagSet(fs, "servers") {
		n = len(splitList(sys.hosts))
	}
	launchers, notes, cleanup, err := sys.launchers(fs)
	defer cleanup()
	if err != nil {
		return err
	}
	cv, runErr := bench.RunCurve(bench.CurveConfig{
		Servers: n, Writes: wf[0], Systems: launchers, Load: load.config(), Rates: rs, Fractions: fr,
		Progress: progressFor(stderr),
	})
	if cv == nil {
		return runErr
	}
	cv.Params.Notes = notes
	cv.Meta.Command = commandOf("curve", args)
	var md strings.Builder
	if err := bench.WriteCurveMarkdown(&md, cv); err != nil {
		return err
	}
	fmt.Fprint(stdout, md.String())
	if err := writeFiles(*out, map[string]func(io.Writer) error{
		"curve.md":   func(w io.Writer) error { _, err := io.WriteString(w, md.String()); return err },
		"curve.csv":  func(w io.Writer) error { return bench.WriteCurveCSV(w, cv) },
		"curve.json": func(w io.Writer) error { return bench.WriteJSON(w, cv) },
		"curve.svg":  func(w io.Writer) error { return bench.WriteCurveSVG(w, cv) },
	}); err != nil {
		return err
	}
	return runErr
}
