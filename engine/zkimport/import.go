package zkimport

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/engine"
	"zkd/netio/jute"
	"zkd/tree"
)

// Options configure Load and Import.
type Options struct {
	// ZKDir is Apache ZooKeeper's snapshot directory: dataDir/version-2,
	// or dataDir itself when it holds a version-2 directory.
	ZKDir string
	// ZKLogDir is where ZooKeeper's logs are when zoo.cfg sets a
	// dataLogDir (that, or its version-2); empty means ZKDir.
	ZKLogDir string
	// DataDir is the zkd data directory Import creates: it must be
	// missing or empty. The snapshot goes in DataDir/snapshots.
	DataDir string
	// LogDir is zkd's dataLogDir (the log goes in LogDir/log); empty
	// means DataDir.
	LogDir string
	// FS is the file system of all of them; nil means vfs.Default.
	FS vfs.FS
	// IgnoreDigest makes Import write the tree even when it disagrees
	// with the digest ZooKeeper recorded (ErrDigestMismatch).
	IgnoreDigest bool
	// Logger gets engine.OpenStore's messages; nil discards them.
	Logger *slog.Logger
}

// Result says what Load (and Import) did.
type Result struct {
	ZKDir, ZKLogDir string // the version-2 directories read

	// Snapshot is the ZooKeeper snapshot the tree was built from, the
	// newest one that decoded and passed its checksum; "" when the
	// directory held none and the logs were replayed onto an empty tree.
	Snapshot     string
	SnapshotZxid int64 // the zxid in its name, where the replay starts
	SnapshotInfo *Snapshot
	// SkippedSnapshots are newer snapshots that failed, newest first.
	SkippedSnapshots []SkippedFile
	// Ignored are files that look like ZooKeeper's but are not read.
	Ignored []string

	Logs     []LogFile // the log files read, in zxid order
	Records  int       // log records read
	Applied  int       // of them, applied: zxid after SnapshotZxid
	Nodes    int       // in the imported tree, "/" included
	Sessions int       // live sessions in the imported tree
	LastZxid int64     // of the imported tree: the new server goes on after it

	// DigestChecks is how many times the tree was compared with a digest
	// ZooKeeper recorded (at the snapshot's digest zxid and at the last
	// record carrying one; 0 when the files hold none), all matching
	// unless Mismatch is set. DigestASCII says the matching digests hash
	// paths in US-ASCII (a JVM under a C locale).
	DigestChecks int
	DigestZxid   int64 // the last zxid checked
	DigestASCII  bool
	Mismatch     *DigestMismatch
	// SnapshotMismatch is set when the tree right after the snapshot
	// disagreed with the digest the snapshot recorded, but a log record's
	// digest checked later agreed. ZooKeeper only logs such a snapshot
	// mismatch: it writes the digest after the nodes, and a transaction
	// applied meanwhile can leave the two a transaction apart. The log
	// records' digests, taken per transaction, decide.
	SnapshotMismatch *DigestMismatch

	// Written is the zkd snapshot Import wrote (a file name in
	// DataDir/snapshots); Verified says zkd's own restore of the data
	// directory gave back the same tree.
	Written  string
	Verified bool
}

// SkippedFile is a snapshot that could not be used, and why.
type SkippedFile struct {
	Name string
	Err  error
}

// LogFile is one log file read.
type LogFile struct {
	Name    string
	Records int // records read
	Applied int // records applied (the others are in the snapshot already)
	End     LogEnd
}

// DigestMismatch is a place where the imported tree's digest differs from
// the one ZooKeeper recorded.
type DigestMismatch struct {
	Zxid     int64
	Recorded int64
	Computed int64
}

// ErrDigestMismatch is wrapped when the imported tree disagrees with a
// digest ZooKeeper recorded: the import is not the tree ZooKeeper had.
var ErrDigestMismatch = errors.New("zkimport: imported tree does not match ZooKeeper's recorded digest")

// ErrNoData is returned for a directory that holds no snapshot or log.
var ErrNoData = errors.New("zkimport: no ZooKeeper snapshot or log found")

// ErrTargetNotEmpty is returned by Import for a DataDir that is not empty.
var ErrTargetNotEmpty = errors.New("zkimport: target data directory is not empty")

// zkFile is a snapshot or log file name parsed.
type zkFile struct {
	name string
	zxid int64
	comp Compression // snapshots only
}

// parseName parses "<prefix>.<hex zxid>[.<suffix>]".
func parseName(name, prefix string) (zxid int64, suffix string, ok bool) {
	rest, found := strings.CutPrefix(name, prefix+".")
	if !found {
		return 0, "", false
	}
	hex, suffix, _ := strings.Cut(rest, ".")
	if hex == "" || len(hex) > 16 || strings.ContainsAny(hex, "+-") {
		return 0, "", false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || v > 1<<63-1 {
		return 0, "", false
	}
	return int64(v), suffix, true
}

// listZK finds the snapshots (newest first) and logs (oldest first) of a
// version-2 directory; other ZooKeeper-looking names go to ignored.
func listZK(fs vfs.FS, snapDir, logDir string) (snaps, logs []zkFile, ignored []string, err error) {
	names, err := fs.List(snapDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("zkimport: listing %s: %w", snapDir, err)
	}
	for _, name := range names {
		zxid, suffix, ok := parseName(name, "snapshot")
		if !ok {
			if strings.HasPrefix(name, "snapshot.") {
				ignored = append(ignored, name)
			}
			continue
		}
		f := zkFile{name: name, zxid: zxid}
		switch suffix {
		case "":
		case "gz":
			f.comp = CompressionGzip
		case "snappy":
			f.comp = CompressionSnappy
		case "tmp":
			// A snapshot being written when the server stopped.
			ignored = append(ignored, name)
			continue
		default:
			f.comp = -1 // unknown: reported when tried
		}
		snaps = append(snaps, f)
	}
	if logDir != snapDir {
		if names, err = fs.List(logDir); err != nil {
			return nil, nil, nil, fmt.Errorf("zkimport: listing %s: %w", logDir, err)
		}
	}
	for _, name := range names {
		zxid, suffix, ok := parseName(name, "log")
		if !ok || suffix != "" {
			if strings.HasPrefix(name, "log.") {
				ignored = append(ignored, name)
			}
			continue
		}
		logs = append(logs, zkFile{name: name, zxid: zxid})
	}
	slices.SortFunc(snaps, func(a, b zkFile) int { return cmp.Or(cmp.Compare(b.zxid, a.zxid), cmp.Compare(a.name, b.name)) })
	slices.SortFunc(logs, func(a, b zkFile) int { return cmp.Compare(a.zxid, b.zxid) })
	return snaps, logs, ignored, nil
}

// versionDir returns dir/version-2 when dir holds one, else dir.
func versionDir(fs vfs.FS, dir string) string {
	v := fs.PathJoin(dir, "version-2")
	if st, err := fs.Stat(v); err == nil && st.IsDir() {
		return v
	}
	return dir
}

// readSnapshotFile builds a tree from one snapshot file.
func readSnapshotFile(fs vfs.FS, dir string, f zkFile) (*tree.Tree, *Snapshot, error) {
	if f.comp < 0 {
		_, suffix, _ := parseName(f.name, "snapshot")
		return nil, nil, fmt.Errorf("zkimport: %s: compression %q is not supported (gz and snappy are)", f.name, suffix)
	}
	file, err := fs.Open(fs.PathJoin(dir, f.name))
	if err != nil {
		return nil, nil, fmt.Errorf("zkimport: %w", err)
	}
	defer file.Close()
	r, err := decompress(file, f.comp)
	if err != nil {
		return nil, nil, &CorruptError{File: f.name, Reason: fmt.Sprintf("%v stream: %v", f.comp, err)}
	}
	b := tree.NewBuilder()
	snap, err := DecodeSnapshot(r, f.name, func(n *SnapNode) error {
		return b.AddNode(n.Path, n.Data, n.ACL, n.Stat)
	})
	if err != nil {
		return nil, nil, err
	}
	for _, s := range snap.Sessions {
		if err := b.AddSession(s.ID, s.TimeoutMs); err != nil {
			return nil, nil, fmt.Errorf("zkimport: %s: %w", f.name, err)
		}
	}
	t, err := b.Tree(f.zxid)
	if err != nil {
		return nil, nil, fmt.Errorf("zkimport: %s: %w", f.name, err)
	}
	return t, snap, nil
}

// Load builds the tree an Apache ZooKeeper 3.x server would restore from
// its version-2 directories, as ZooKeeper does: the newest snapshot that
// decodes and passes its checksum (falling back to older ones, each
// failure recorded in the Result), then every log record after the
// snapshot's zxid applied in order. Only Options.ZKDir, ZKLogDir and FS
// are used.
//
// Beyond what ZooKeeper checks, the records applied must be strictly
// increasing and, within an epoch (the zxid's high 32 bits), contiguous:
// ZooKeeper gives every transaction the next zxid, so a hole means a
// missing or cut log file, and Load refuses rather than build a tree
// that lacks acknowledged writes. The result is then compared with the
// tree digests ZooKeeper 3.6+ records (see Digest): a mismatch returns
// the tree, the Result and an error wrapping ErrDigestMismatch.
func Load(o Options) (*tree.Tree, *Result, error) {
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	snapDir := versionDir(fs, o.ZKDir)
	logDir := snapDir
	if o.ZKLogDir != "" {
		logDir = versionDir(fs, o.ZKLogDir)
	}
	res := &Result{ZKDir: snapDir, ZKLogDir: logDir}
	snaps, logs, ignored, err := listZK(fs, snapDir, logDir)
	if err != nil {
		return nil, res, err
	}
	res.Ignored = ignored
	if len(snaps) == 0 && len(logs) == 0 {
		return nil, res, fmt.Errorf("%w in %s", ErrNoData, snapDir)
	}

	var t *tree.Tree
	for _, f := range snaps {
		st, snap, err := readSnapshotFile(fs, snapDir, f)
		if err != nil {
			res.SkippedSnapshots = append(res.SkippedSnapshots, SkippedFile{Name: f.name, Err: err})
			continue
		}
		t, res.Snapshot, res.SnapshotZxid, res.SnapshotInfo = st, f.name, f.zxid, snap
		break
	}
	if t == nil {
		if len(snaps) > 0 {
			return nil, res, fmt.Errorf("zkimport: no valid snapshot in %s (newest %s: %w)", snapDir, snaps[0].name, res.SkippedSnapshots[0].Err)
		}
		// No snapshot at all: ZooKeeper's initial tree, which zkd's New
		// matches node for node, then the whole log.
		t = tree.New()
	}

	chk := &digestCheck{t: t, res: res}
	snapDigest := res.SnapshotInfo.usableDigest(res.SnapshotZxid)
	if snapDigest != nil && snapDigest.Zxid == res.SnapshotZxid {
		chk.checkSnapshot(snapDigest.Zxid, snapDigest.Digest)
		snapDigest = nil
	}

	prev := res.SnapshotZxid
	// pending is the last digest a record carried, while the tree still
	// is as it was then: ZooKeeper logs an error txn without a digest,
	// and such a record changes nothing.
	var pending *ZxidDigest
	for _, f := range selectLogs(logs, res.SnapshotZxid) {
		lf, err := replayLog(fs, logDir, f, res.SnapshotZxid, &prev, t, func(e *Entry) {
			if snapDigest != nil && e.Header.Zxid == snapDigest.Zxid {
				// The snapshot's digest is of the tree when it ended:
				// from here on the replayed tree is no longer fuzzy.
				chk.checkSnapshot(snapDigest.Zxid, snapDigest.Digest)
				snapDigest = nil
			}
			switch {
			case e.Digest != nil && e.Digest.Version == DigestVersion:
				pending = &ZxidDigest{Zxid: e.Header.Zxid, Version: e.Digest.Version, Digest: e.Digest.Tree}
			case e.Digest == nil && changesNothing(&e.Txn):
			default:
				pending = nil
			}
		})
		res.Logs = append(res.Logs, lf)
		res.Records += lf.Records
		res.Applied += lf.Applied
		if err != nil {
			return nil, res, err
		}
	}
	if pending != nil && res.DigestZxid != pending.Zxid {
		chk.check(pending.Zxid, pending.Digest)
	}
	if chk.snapMismatch != nil {
		if chk.logChecked && res.Mismatch == nil {
			res.SnapshotMismatch = chk.snapMismatch
		} else if res.Mismatch == nil {
			res.Mismatch = chk.snapMismatch // nothing later to decide
		}
	}
	res.Nodes, res.Sessions, res.LastZxid = t.NodeCount(), len(t.Sessions()), t.LastZxid()
	if m := res.Mismatch; m != nil {
		return t, res, fmt.Errorf("%w: at zxid 0x%x ZooKeeper recorded %#x, the import has %#x",
			ErrDigestMismatch, m.Zxid, uint64(m.Recorded), uint64(m.Computed))
	}
	return t, res, nil
}

// changesNothing reports whether applying x leaves any tree as it is: an
// error, a check, or a multi of nothing else (a failed one).
func changesNothing(x *tree.Txn) bool {
	switch x.Type {
	case jute.OpError, jute.OpCheck:
		return true
	case jute.OpMulti:
		for i := range x.Ops {
			if !changesNothing(&x.Ops[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// usableDigest returns the snapshot's digest when it can be checked: of
// the version Digest computes, at or after the snapshot's zxid (ZooKeeper
// ignores an older one too: a snapshot a new leader took at epoch<<32).
func (s *Snapshot) usableDigest(snapZxid int64) *ZxidDigest {
	if s == nil || s.Digest == nil || s.Digest.Version != DigestVersion || s.Digest.Zxid <= 0 || s.Digest.Zxid < snapZxid {
		return nil
	}
	return s.Digest
}

// selectLogs picks the logs that may hold records after zxid, as
// ZooKeeper does: the newest one starting at or before it, and every one
// after that.
func selectLogs(logs []zkFile, zxid int64) []zkFile {
	from := 0
	for i, f := range logs {
		if f.zxid <= zxid {
			from = i
		}
	}
	return logs[from:]
}

// replayLog applies the records of one log file after snapZxid to t,
// checking that they go on from *prev without a hole in an epoch.
func replayLog(fs vfs.FS, dir string, f zkFile, snapZxid int64, prev *int64, t *tree.Tree, applied func(*Entry)) (LogFile, error) {
	lf := LogFile{Name: f.name}
	file, err := fs.Open(fs.PathJoin(dir, f.name))
	if err != nil {
		return lf, fmt.Errorf("zkimport: %w", err)
	}
	defer file.Close()
	lr, err := NewLogReader(file, f.name)
	if err != nil {
		return lf, err
	}
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			lf.End = *lr.End()
			return lf, nil
		}
		if err != nil {
			return lf, err
		}
		lf.Records++
		if zxid, ok := rec.Zxid(); ok && zxid <= snapZxid {
			continue // the snapshot holds it
		}
		e, err := DecodeEntry(rec.Payload)
		if err != nil {
			return lf, fmt.Errorf("zkimport: %s: record at offset %d: %w", f.name, rec.Offset, err)
		}
		z := e.Header.Zxid
		switch {
		case z <= *prev:
			return lf, fmt.Errorf("zkimport: %s: record at offset %d has zxid 0x%x, not after 0x%x", f.name, rec.Offset, z, *prev)
		case z != *prev+1 && z>>32 == *prev>>32:
			return lf, fmt.Errorf("zkimport: %s: record at offset %d has zxid 0x%x, but no log holds 0x%x..0x%x (a log file is missing or was cut short)",
				f.name, rec.Offset, z, *prev+1, z-1)
		}
		if e.CreateV0 {
			parent, _ := tree.SplitPath(e.Txn.Path)
			if n, ok := t.Get(parent); ok {
				e.Txn.Version = n.Persisted().Cversion + 1
			}
		}
		t.Apply(&e.Txn, nil)
		*prev = z
		lf.Applied++
		applied(&e)
	}
}

// digestCheck compares the tree with digests ZooKeeper recorded.
type digestCheck struct {
	t   *tree.Tree
	res *Result

	logChecked   bool            // a log record's digest was compared
	snapMismatch *DigestMismatch // the snapshot's digest disagreed
}

// checkSnapshot compares the tree with the snapshot's own digest, which
// is advisory when a log record's digest comes later (see
// Result.SnapshotMismatch).
func (c *digestCheck) checkSnapshot(zxid, recorded int64) {
	before := c.res.Mismatch
	c.compare(zxid, recorded)
	if c.res.Mismatch != before {
		c.snapMismatch, c.res.Mismatch = c.res.Mismatch, before
	}
}

// check compares the tree with a log record's digest.
func (c *digestCheck) check(zxid, recorded int64) {
	c.logChecked = true
	c.compare(zxid, recorded)
}

func (c *digestCheck) compare(zxid, recorded int64) {
	got := Digest(c.t, false)
	ascii := false
	if got != recorded && hasNonASCIIPath(c.t) {
		if a := Digest(c.t, true); a == recorded {
			got, ascii = a, true
		}
	}
	c.res.DigestChecks++
	c.res.DigestZxid = zxid
	c.res.DigestASCII = c.res.DigestASCII || ascii
	if got != recorded && c.res.Mismatch == nil {
		c.res.Mismatch = &DigestMismatch{Zxid: zxid, Recorded: recorded, Computed: got}
	}
}

// Import loads an Apache ZooKeeper data directory (Load) and writes the
// tree as a new zkd data directory: one zkd snapshot at the imported last
// zxid (engine.WriteSnapshot) and an empty log. It then opens the result
// with engine.OpenStore, as the server will, and checks that the restored
// tree has the same digest and last zxid; a server started on DataDir
// goes on with zxids after the imported ones and keeps the imported
// sessions (with their timeouts; netio gives each a full timeout to
// reconnect). DataDir must be missing or empty, and LogDir must not hold
// a log yet.
func Import(o Options) (*Result, error) {
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
		o.FS = fs
	}
	if o.DataDir == "" {
		return nil, errors.New("zkimport: no target data directory")
	}
	logDir := o.LogDir
	if logDir == "" {
		logDir = o.DataDir
	}
	if names, err := fs.List(o.DataDir); err == nil && len(names) > 0 {
		return nil, fmt.Errorf("%w: %s holds %s", ErrTargetNotEmpty, o.DataDir, strings.Join(names[:min(len(names), 3)], ", "))
	} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("zkimport: %w", err)
	}
	if _, err := fs.Stat(fs.PathJoin(logDir, "log")); err == nil {
		return nil, fmt.Errorf("%w: %s already exists", ErrTargetNotEmpty, fs.PathJoin(logDir, "log"))
	}

	t, res, err := Load(o)
	if err != nil && !(o.IgnoreDigest && errors.Is(err, ErrDigestMismatch)) {
		return res, err
	}
	snapDir := fs.PathJoin(o.DataDir, "snapshots")
	if err := fs.MkdirAll(snapDir, 0o755); err != nil {
		return res, fmt.Errorf("zkimport: %w", err)
	}
	name, _, err := engine.WriteSnapshot(fs, snapDir, t, func(f func()) { f() }, 0)
	if err != nil {
		return res, fmt.Errorf("zkimport: %w", err)
	}
	res.Written = name

	store, restored, err := engine.OpenStore(engine.StoreOptions{DataDir: o.DataDir, LogDir: o.LogDir, FS: fs, Logger: o.Logger})
	if err != nil {
		return res, fmt.Errorf("zkimport: reopening the imported data directory: %w", err)
	}
	same := restored.Digest() == t.Digest() && restored.LastZxid() == t.LastZxid()
	if err := store.Close(); err != nil {
		return res, fmt.Errorf("zkimport: %w", err)
	}
	if !same {
		return res, fmt.Errorf("zkimport: restoring %s gives another tree than the one imported", o.DataDir)
	}
	res.Verified = true
	return res, nil
}
