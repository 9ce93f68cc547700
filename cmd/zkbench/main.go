// Command zkbench runs the paper's workload against zkd and Apache
// ZooKeeper side by side.
//
//	zkbench [flags]            one server of each, a row per write fraction (the original mode)
//	zkbench table [flags]      the paper's throughput table: servers × write fractions,
//	                           Markdown, CSV, JSON, SVG and a capacity-planning report
//	zkbench latency [flags]    the paper's latency benchmark: synchronous creates,
//	                           asynchronous deletes, 1, 10, 20 workers
//	zkbench curve [flags]      latency against throughput from rate-limited runs
//	zkbench report [flags]     a BENCHMARKS.md section from the JSON a run wrote
//
// Run "zkbench <command> -h" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "zkbench:", err)
		os.Exit(1)
	}
}

// run dispatches on the first argument; anything that is not a command
// name is the original side-by-side mode's flags.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "table":
			return runTable(args[1:], stdout, stderr)
		case "latency":
			return runLatency(args[1:], stdout, stderr)
		case "curve":
			return runCurve(args[1:], stdout, stderr)
		case "report":
			return runReport(args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			return nil
		default:
			return fmt.Errorf("unknown command %q\n%s", args[0], usage)
		}
	}
	return runSideBySide(args, stdout, stderr)
}

const usage = `usage:
  zkbench [flags]           zkd and Apache ZooKeeper standalone, a row per write fraction
  zkbench table [flags]     the paper's throughput table (servers x write fractions)
  zkbench latency [flags]   the paper's create/delete latency benchmark
  zkbench curve [flags]     latency against throughput from rate-limited runs
  zkbench report [flags]    a BENCHMARKS.md section from a run's JSON
`
