package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"zkd/engine/zkimport"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, imports, prints the report
// to stdout and errors to stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("zkimport", flag.ContinueOnError)
	fl.SetOutput(stderr)
	zkDir := fl.String("zk", "", "Apache ZooKeeper's dataDir, or its version-2 directory (snapshots, and logs unless -zk-log)")
	zkLogDir := fl.String("zk-log", "", "ZooKeeper's dataLogDir (or its version-2), when zoo.cfg sets one")
	dataDir := fl.String("data", "", "zkd data directory to create (must be missing or empty)")
	logDir := fl.String("log", "", "zkd log directory (dataLogDir); default: -data")
	ignoreDigest := fl.Bool("ignore-digest", false, "import even if the tree disagrees with ZooKeeper's recorded digest")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: zkimport -zk /var/lib/zookeeper/version-2 -data ./zkd-data [-zk-log DIR] [-log DIR] [-ignore-digest]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "zkimport: "+format+"\n", a...)
		fl.Usage()
		return exitUsage
	}
	switch {
	case fl.NArg() > 0:
		return usage("unexpected argument %q", fl.Arg(0))
	case *zkDir == "":
		return usage("-zk is required")
	case *dataDir == "":
		return usage("-data is required")
	}

	res, err := zkimport.Import(zkimport.Options{
		ZKDir: *zkDir, ZKLogDir: *zkLogDir, DataDir: *dataDir, LogDir: *logDir, IgnoreDigest: *ignoreDigest,
	})
	if res != nil {
		report(stdout, res, *dataDir)
	}
	if err != nil {
		fmt.Fprintln(stderr, err) // the package prefixes its errors with "zkimport:"
		if errors.Is(err, zkimport.ErrDigestMismatch) {
			fmt.Fprintln(stderr, "zkimport: nothing was written; -ignore-digest imports anyway")
		}
		return exitError
	}
	return exitOK
}

// report prints what the import did, one fact a line.
func report(w io.Writer, res *zkimport.Result, dataDir string) {
	line := func(key, format string, a ...any) {
		fmt.Fprintf(w, "%-16s %s\n", key+":", fmt.Sprintf(format, a...))
	}
	if res.ZKLogDir != "" && res.ZKLogDir != res.ZKDir {
		line("from", "%s (logs in %s)", res.ZKDir, res.ZKLogDir)
	} else if res.ZKDir != "" {
		line("from", "%s", res.ZKDir)
	}
	for _, s := range res.SkippedSnapshots {
		line("skipped", "%s: %v", s.Name, s.Err)
	}
	for _, name := range res.Ignored {
		line("ignored", "%s", name)
	}
	switch {
	case res.Snapshot != "":
		info := res.SnapshotInfo
		line("snapshot", "%s (zxid 0x%x, %d nodes, %d sessions)", res.Snapshot, res.SnapshotZxid, info.Nodes, len(info.Sessions))
	case len(res.Logs) > 0:
		line("snapshot", "none: the logs were replayed onto an empty tree")
	}
	for _, lf := range res.Logs {
		end := "clean end"
		if lf.End.Torn {
			end = fmt.Sprintf("torn record dropped at offset %d (%s)", lf.End.Offset, lf.End.Reason)
		}
		line("log", "%s: %d records, %d applied, %s", lf.Name, lf.Records, lf.Applied, end)
	}
	if len(res.Logs) == 0 && res.Snapshot == "" {
		return
	}
	line("records", "%d read, %d applied after the snapshot", res.Records, res.Applied)
	line("nodes", "%d", res.Nodes)
	line("sessions", "%d (each expires after its timeout unless its client reconnects)", res.Sessions)
	line("last zxid", "0x%x", res.LastZxid)
	switch {
	case res.Mismatch != nil:
		m := res.Mismatch
		line("digest", "MISMATCH at zxid 0x%x: ZooKeeper recorded %#x, the import has %#x",
			m.Zxid, uint64(m.Recorded), uint64(m.Computed))
	case res.DigestChecks > 0:
		charset := ""
		if res.DigestASCII {
			charset = ", paths hashed as US-ASCII"
		}
		line("digest", "matches ZooKeeper's (%d checks, the last at zxid 0x%x%s)", res.DigestChecks, res.DigestZxid, charset)
		if m := res.SnapshotMismatch; m != nil {
			line("note", "the snapshot's own digest (zxid 0x%x) was a transaction off, as ZooKeeper's can be; the log's later digest agrees",
				m.Zxid)
		}
	default:
		line("digest", "not checked: ZooKeeper recorded none (before 3.6, or digests disabled)")
	}
	if res.Written != "" {
		verified := ""
		if res.Verified {
			verified = " (restored and compared)"
		}
		line("written", "%s%s", filepath.Join(dataDir, "snapshots", res.Written), verified)
		line("next", "start zkd with dataDir=%s; its first write gets zxid 0x%x", dataDir, res.LastZxid+1)
	}
}
