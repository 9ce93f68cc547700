package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	// memTableBytes is pebble's memtable size. A group (at most
	// groupBytesMax) must stay under pebble's large-batch threshold (half
	// of it) so a commit never turns into a forced memtable flush.
	memTableBytes = 32 << 20

	// logFormat pins pebble's on-disk format (FormatNewest of v2.1.7; it
	// includes FormatWALSyncChunks, whose WAL chunks record the synced
	// offset so that recovery can tell a torn unsynced tail from
	// corruption of synced data). Pinned so that a pebble upgrade does
	// not ratchet the format of existing logs unasked.
	logFormat = pebble.FormatValueSeparation
)

// fatalCommitFormat is the format string pebble v2.1.7 (db.go,
// applyInternal) passes to Logger.Fatalf when a commit fails, e.g. when
// the WAL write or fsync fails. Pebble releases its commit locks before
// that call, so the DB can still be closed (and the log reopened); every
// other Fatalf or panic is treated as one pebble cannot continue from.
// TestAppendErrorsThenRecover fails if pebble changes this.
const fatalCommitFormat = "pebble: fatal commit error: %v"

// pebbleFatal is the panic value of pebbleLogger.Fatalf. Pebble's default
// Fatalf exits the process; ours panics so that the writer goroutine,
// which makes every pebble write call, can recover and report an error.
// A Fatalf on one of pebble's background goroutines (a MANIFEST write
// failing during a flush or compaction) still ends the process, as it
// would with pebble's default logger: pebble cannot go on from it.
type pebbleFatal struct {
	format string
	msg    string
	cause  error // the error argument, when there is one
}

func (f *pebbleFatal) Error() string { return f.msg }
func (f *pebbleFatal) Unwrap() error { return f.cause }

// pebbleLogger adapts slog to pebble.Logger.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	f := &pebbleFatal{format: format, msg: fmt.Sprintf(format, args...)}
	if len(args) == 1 {
		f.cause, _ = args[0].(error)
	}
	l.log.Error(f.msg, "component", "pebble", "fatal", true)
	panic(f)
}

// pebbleOptions returns the options every open of the log uses.
func pebbleOptions(fs vfs.FS, log *slog.Logger) *pebble.Options {
	lg := pebbleLogger{log}
	o := &pebble.Options{
		FS:                 fs,
		Logger:             lg,
		FormatMajorVersion: logFormat,
		MemTableSize:       memTableBytes,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				log.Error("pebble background error", "err", err)
			},
			// Pebble's default is Fatalf; a corrupt block fails the read
			// that found it, and Read reports that as ErrCorrupt.
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				log.Error("pebble data corruption", "path", info.Path, "err", info.Details)
			},
			DiskSlow: func(info pebble.DiskSlowInfo) {
				log.Warn("disk slow", "path", info.Path, "op", info.OpType.String(), "duration", info.Duration)
			},
		},
	}
	// Records are written once, read rarely (restore, a follower's DIFF)
	// and dropped whole by purge: compressing every table block on flush
	// costs CPU on the write path and saves little on txns whose data is
	// the client's (often already compact) bytes. ZooKeeper's own log is
	// not compressed either.
	// 64 KB blocks rather than 4 KB: a flush writes the memtable out in
	// a sixteenth of the write calls, and a log is read by range, never
	// by point lookups that would favour small blocks.
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		o.Levels[i].BlockSize = 64 << 10
	}
	return o
}

// protect runs f, which calls pebble, and turns a pebble panic into an
// error. closable reports whether the DB may still be used for Close: true
// unless pebble panicked in a way that may leave its locks held. Such a
// panic is logged with its stack.
func (l *Log) protect(f func() error) (err error, closable bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var pf *pebbleFatal
		if e, ok := r.(error); ok && errors.As(e, &pf) && pf.format == fatalCommitFormat {
			err, closable = pf, true
			return
		}
		err, closable = fmt.Errorf("pebble panicked: %v", r), false
		l.log.Error("pebble panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}()
	return f(), true
}

// newGroupBatch returns the writer's reusable batch. Pebble drops a
// batch's buffer on Reset once it grew past 1 MB by default; keeping up to
// a full group's worth (plus the last txn, which may overshoot) means a
// busy log does not reallocate it every group.
func newGroupBatch(db *pebble.DB) *pebble.Batch {
	return db.NewBatch(pebble.WithMaxRetainedSizeBytes(2 * groupBytesMax))
}
