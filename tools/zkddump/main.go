package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"zkd/engine"
	"zkd/netio/jute"
	"zkd/tree"
)

const (
	// dataShowBytesMax is how much of a znode's data -show-data prints.
	dataShowBytesMax = 64

	exitOK    = 0
	exitError = 1
	exitUsage = 2

	timeLayout = "2006-01-02T15:04:05.000Z07:00" // RFC 3339 with milliseconds
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, prints to stdout, reports
// errors to stderr and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("zkd-dump", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dataDir := fl.String("data", "", "zkd data directory (holds snapshots/ and log/)")
	_ = fl.Bool("snapshot", false, "print the newest valid snapshot (the default)")
	snapFile := fl.String("file", "", "print this snapshot file instead of the newest (-data not needed)")
	showLog := fl.Bool("log", false, "print the transaction log instead of the snapshot")
	showData := fl.Bool("show-data", false, "with -snapshot: print each znode's data, quoted, up to 64 bytes")
	fromStr := fl.String("from", "1", "with -log: first zxid to print (hex with 0x, or decimal)")
	toStr := fl.String("to", strconv.FormatInt(math.MaxInt64, 10), "with -log: last zxid to print (hex with 0x, or decimal)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: zkd-dump -data DIR [-snapshot [-show-data] | -log [-from ZXID] [-to ZXID]] | zkd-dump -file SNAPSHOT [-show-data]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "zkd-dump: "+format+"\n", a...)
		fl.Usage()
		return exitUsage
	}
	if fl.NArg() > 0 {
		return usage("unexpected argument %q", fl.Arg(0))
	}
	if *dataDir == "" && *snapFile == "" {
		return usage("-data or -file is required")
	}
	if *snapFile != "" && *showLog {
		return usage("-file and -log are exclusive")
	}
	snapshotSet := false
	fl.Visit(func(f *flag.Flag) { snapshotSet = snapshotSet || f.Name == "snapshot" })
	if snapshotSet && *showLog {
		return usage("-snapshot and -log are exclusive")
	}
	from, err := parseZxid(*fromStr)
	if err != nil {
		return usage("-from: %v", err)
	}
	to, err := parseZxid(*toStr)
	if err != nil {
		return usage("-to: %v", err)
	}

	out := bufio.NewWriter(stdout)
	switch {
	case *showLog:
		err = dumpLog(out, *dataDir, from, to)
	case *snapFile != "":
		err = dumpSnapshotFile(out, *snapFile, *showData)
	default:
		err = dumpSnapshot(out, stderr, *dataDir, *showData)
	}
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing output: %w", ferr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "zkd-dump: %v\n", err)
		return exitError
	}
	return exitOK
}

// parseZxid reads a zxid written as 0x-prefixed hex or as decimal (no
// octal: a leading 0 is decimal).
func parseZxid(s string) (int64, error) {
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 64)
	} else {
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil || v > math.MaxInt64 {
		return 0, fmt.Errorf("bad zxid %q: want 0x-prefixed hex or decimal in [0, 2^63)", s)
	}
	return int64(v), nil
}

// checkDir fails unless path is an existing directory.
func checkDir(path, what string) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no %s: %s does not exist", what, path)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", what, path)
	}
	return nil
}

// dumpSnapshot prints the newest valid snapshot. Snapshots it skips are
// reported on stderr (engine.LoadNewestSnapshot logs them at Warn).
func dumpSnapshot(w io.Writer, stderr io.Writer, dataDir string, showData bool) error {
	if err := checkDir(dataDir, "data directory"); err != nil {
		return err
	}
	snapDir := filepath.Join(dataDir, "snapshots")
	if err := checkDir(snapDir, "snapshot directory"); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t, start, name, err := engine.LoadNewestSnapshot(nil, snapDir, logger)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("no valid snapshot in %s", snapDir)
	}
	return printSnapshot(w, filepath.Join(snapDir, name), t, start, showData)
}

// dumpSnapshotFile prints one snapshot file, valid or not: a file that
// fails its checks is reported as such.
func dumpSnapshotFile(w io.Writer, path string, showData bool) error {
	t, start, err := engine.ReadSnapshotFile(nil, path)
	if err != nil {
		return err
	}
	return printSnapshot(w, path, t, start, showData)
}

// printSnapshot prints a restored snapshot's header and its tree.
func printSnapshot(w io.Writer, snapPath string, t *tree.Tree, start int64, showData bool) error {
	fmt.Fprintf(w, "snapshot %s\n", snapPath)
	fmt.Fprintf(w, "startZxid 0x%x\n", start)
	fmt.Fprintf(w, "nodes %d\n", t.NodeCount())
	fmt.Fprintf(w, "sessions %d\n", len(t.Sessions()))
	fmt.Fprintf(w, "digest %016x\n", t.Digest())
	// What the snapshot recorded when it was finished: the digest a
	// restart checks once its replay reaches endZxid.
	if c, ok := t.TakeDigestCheck(); ok {
		fmt.Fprintf(w, "endZxid 0x%x\n", c.Zxid)
		fmt.Fprintf(w, "endDigest %016x\n", c.Digest)
	}

	// Depth-first, children sorted: a stack of paths, children pushed in
	// reverse. Every path on it exists (nothing applies to t meanwhile),
	// and the stack is bounded by the node count.
	stack := []string{"/"}
	var kids []string
	printed := 0
	for len(stack) > 0 {
		path := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, ok := t.Get(path)
		if !ok {
			return fmt.Errorf("snapshot %s: child %s not in the tree", snapPath, path)
		}
		writeNode(w, path, n, showData)
		printed++
		kids = n.Children(kids[:0])
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, childPath(path, kids[i]))
		}
	}
	if printed != t.NodeCount() {
		return fmt.Errorf("snapshot %s: walked %d nodes, tree counts %d", snapPath, printed, t.NodeCount())
	}
	return nil
}

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

func writeNode(w io.Writer, path string, n tree.Node, showData bool) {
	st := n.Stat()
	fmt.Fprintf(w, "%s len=%d version=%d cversion=%d aversion=%d czxid=0x%x mzxid=0x%x pzxid=0x%x ephemeralOwner=0x%x",
		path, st.DataLength, st.Version, st.Cversion, st.Aversion, st.Czxid, st.Mzxid, st.Pzxid, st.EphemeralOwner)
	if raw := n.Owner(); raw != st.EphemeralOwner {
		// A container or TTL node: Stat hides the encoding from clients.
		fmt.Fprintf(w, " owner=0x%x", raw)
	}
	fmt.Fprintf(w, " acl=%s", formatACL(n.ACL()))
	if showData {
		fmt.Fprintf(w, " data=%s", formatData(n.Data()))
	}
	fmt.Fprintln(w)
}

// formatACL writes an ACL as zkCli does, scheme:id:perms, in a list.
func formatACL(acl []jute.ACL) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, a := range acl {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.ID.Scheme + ":" + a.ID.ID + ":" + formatPerms(a.Perms))
	}
	b.WriteByte(']')
	return b.String()
}

func formatPerms(p int32) string {
	var b []byte
	for _, x := range []struct {
		bit int32
		c   byte
	}{{jute.PermCreate, 'c'}, {jute.PermDelete, 'd'}, {jute.PermRead, 'r'}, {jute.PermWrite, 'w'}, {jute.PermAdmin, 'a'}} {
		if p&x.bit != 0 {
			b = append(b, x.c)
		}
	}
	if rest := p &^ jute.PermAll; rest != 0 {
		b = fmt.Appendf(b, "+0x%x", rest)
	}
	return string(b)
}

// formatData quotes data, cut at dataShowBytesMax; null data (which
// ZooKeeper keeps apart from empty data) prints as null.
func formatData(d []byte) string {
	if d == nil {
		return "null"
	}
	if len(d) > dataShowBytesMax {
		return strconv.Quote(string(d[:dataShowBytesMax])) + "..."
	}
	return strconv.Quote(string(d))
}

// dumpLog prints the log's bounds and its records in [from, to].
func dumpLog(w io.Writer, dataDir string, from, to int64) error {
	if err := checkDir(dataDir, "data directory"); err != nil {
		return err
	}
	logDir := filepath.Join(dataDir, "log")
	if err := checkDir(logDir, "log directory"); err != nil {
		return err
	}
	if err := checkPebbleDir(logDir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "zkd-dump-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	copyDir := filepath.Join(tmp, "log")
	if err := copyTree(logDir, copyDir); err != nil {
		return fmt.Errorf("copying %s: %w", logDir, err)
	}
	l, err := engine.OpenLog(engine.LogOptions{Dir: copyDir, NoSync: true})
	if err != nil {
		return fmt.Errorf("opening the log (a copy of %s): %w", logDir, err)
	}
	defer l.Close()

	fmt.Fprintf(w, "log %s\n", logDir)
	fmt.Fprintf(w, "firstZxid 0x%x\n", l.FirstZxid())
	fmt.Fprintf(w, "lastZxid 0x%x\n", l.LastZxid())
	err = l.Read(from, to, func(x *tree.Txn) error {
		writeTxn(w, x)
		return nil
	})
	var ce *engine.CorruptError
	if errors.As(err, &ce) && ce.Zxid != 0 {
		return fmt.Errorf("record at zxid 0x%x: %w", ce.Zxid, err)
	}
	return err
}

// checkPebbleDir fails unless dir looks like a pebble store: without this
// an empty or wrong directory would open as a new, empty log.
func checkPebbleDir(dir string) error {
	names, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	for _, e := range names {
		if strings.HasPrefix(e.Name(), "marker.manifest.") || e.Name() == "CURRENT" {
			return nil
		}
	}
	return fmt.Errorf("log directory %s holds no pebble store (no manifest marker)", dir)
}

// copyTree copies src into dst (created). Files pebble never changes once
// written (.sst, .blob) are hard linked when possible: pebble only ever
// removes them, and removing a link leaves the original.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		case strings.HasSuffix(path, ".sst") || strings.HasSuffix(path, ".blob"):
			if os.Link(path, target) == nil {
				return nil
			}
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func writeTxn(w io.Writer, x *tree.Txn) {
	fmt.Fprintf(w, "0x%x %s session=0x%x cxid=%d ", x.Zxid,
		time.UnixMilli(x.Time).UTC().Format(timeLayout), x.Session, x.Cxid)
	writeOp(w, x)
	for i := range x.Ops {
		fmt.Fprint(w, "  ")
		writeOp(w, &x.Ops[i])
	}
}

// writeOp prints the type and body of one txn or multi sub-op.
func writeOp(w io.Writer, x *tree.Txn) {
	fmt.Fprint(w, x.Type.String())
	switch {
	case tree.IsCreate(x.Type):
		fmt.Fprintf(w, " %s len=%d version=%d", x.Path, len(x.Data), x.Version)
		if x.Owner != 0 {
			fmt.Fprintf(w, " owner=0x%x", x.Owner)
		}
	case x.Type == jute.OpSetData:
		fmt.Fprintf(w, " %s len=%d version=%d", x.Path, len(x.Data), x.Version)
	case x.Type == jute.OpSetACL:
		fmt.Fprintf(w, " %s version=%d acl=%s", x.Path, x.Version, formatACL(x.ACL))
	case x.Type == jute.OpCheck:
		fmt.Fprintf(w, " %s version=%d", x.Path, x.Version)
	case x.Type == jute.OpDelete || x.Type == jute.OpDeleteContainer:
		fmt.Fprintf(w, " %s", x.Path)
	case x.Type == jute.OpError:
		fmt.Fprintf(w, " err=%s", x.Err)
	case x.Type == jute.OpCreateSession:
		fmt.Fprintf(w, " timeout=%d", x.Timeout)
	case x.Type == jute.OpCloseSession:
		fmt.Fprintf(w, " ephemerals=%d", len(x.Paths))
		for _, p := range x.Paths {
			fmt.Fprintf(w, " %s", p)
		}
	case x.Type == jute.OpMulti:
		fmt.Fprintf(w, " ops=%d", len(x.Ops))
	}
	fmt.Fprintln(w)
}
