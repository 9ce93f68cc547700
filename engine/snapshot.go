package engine

// Fuzzy snapshots, and why recovery from them is correct.
//
// A snapshot is written while the server goes on applying transactions:
// WriteSnapshot takes the tree's read lock for one chunk of nodes at a
// time (tree.SnapshotWriter.Next) and releases it between chunks, so
// writes are held up for one chunk at most, never for the whole tree. The
// file therefore shows no single moment of the tree: it records the zxid S
// the tree had when the writer started, and each node as it was at some
// moment between S and the end of the write. Recovery loads the newest
// valid snapshot and applies every logged transaction with zxid > S, in
// zxid order. That gives exactly the tree the server had at the log's end:
//
//  1. A transaction is applied only once it is durable in the log, so the
//     snapshot holds no change the log lacks, and every change after S is
//     in the log: replay misses nothing the snapshot missed.
//  2. A transaction carries final values, not deltas: the new data and
//     version, the final sequential name, the parent's new cversion, the
//     owner. Applying it to a node copied before it took effect produces
//     its effect; applying it to a node copied after (its effect, and maybe
//     later ones, already there) changes nothing that later transactions
//     do not set again, and pzxid and cversion only move forward to the
//     same maximum (tree.Apply; ZooKeeper's DataTree does the same).
//  3. Structure converges too: a node the snapshot copied but a later
//     transaction deleted is deleted on replay (with whatever the snapshot
//     holds under it, all of which the log deletes too); a node created
//     after its parent was copied is not in the snapshot and is created on
//     replay; a create that finds its node already there is a no-op but
//     for the parent's cversion/pzxid maximum. Since every node in the
//     snapshot was copied after S, replaying from S+1 covers every
//     transaction it might lack. The session table, copied at the first
//     chunk, converges the same way (createSession and closeSession carry
//     final values; closeSession also deletes the ephemerals it lists).
//  4. Each snapshot file is all-or-nothing: it is written to <name>.tmp,
//     fsynced, renamed, and the directory fsynced, and it carries
//     checksums of its header and body, so a crash or a torn write leaves
//     either no file, a .tmp that is ignored, or a file that fails its
//     checks and is skipped for the next older one. An older snapshot is
//     just as correct, with a longer replay, as long as the log still
//     holds every transaction after its start zxid: PurgeSnapshots returns
//     the oldest kept start zxid, and the log must keep everything after
//     it. The caller checks that the log starts at or before S+1 before it
//     trusts the replay.
//
// tree/snapshot_test.go's TestFuzzySnapshot checks points 2 and 3 over
// random histories; snapshot_test.go here checks point 4 with crashes
// (vfs.NewCrashableMem) and corrupt files.
//
// File format (name "snapshot.<start zxid, 16 hex digits>", all integers
// big-endian):
//
//	header  (24 bytes): "ZKDSNAP1", uint32 format version (1),
//	                    uint64 start zxid, uint32 CRC-32C of these 20 bytes
//	body    (n bytes):  a zstd stream (klauspost/compress/zstd, with zstd's
//	                    own frame checksums) of the tree.SnapshotWriter body,
//	                    whose end record holds the tree's digest
//	                    (tree.Digest, with its DigestVersion) at the zxid the
//	                    snapshot ended at
//	trailer (28 bytes): uint64 n, uint32 CRC-32C of the n body bytes,
//	                    uint64 start zxid (again), "ZKDSEND1"
//
// A file is valid when its size is 52+n, both magics and start zxids
// match (and match the name), and both checksums hold; the body is then
// decompressed and decoded, and any error there makes it invalid too.
//
// The digest sits at the end of the body, not in the header: a fuzzy
// snapshot's nodes match no single moment before the last chunk is
// written, so the digest worth recording is the tree's at that point (end
// zxid E). Recovery compares it when the replay reaches E (Store.restore
// logs the outcome; a mismatch is an error in the log, and the server goes
// on, as Apache ZooKeeper does). A snapshot that nothing changed under
// (E equal to its start) is checked as it is read, and one that fails
// is invalid like any other bad body.

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/compress/zstd"

	"zkd/tree"
)

const (
	snapNamePrefix    = "snapshot."
	snapTmpSuffix     = ".tmp"
	snapMagic         = "ZKDSNAP1"
	snapEndMagic      = "ZKDSEND1"
	snapFormatVersion = 1
	snapHeaderBytes   = 24
	snapTrailerBytes  = 28

	// SnapshotChunkNodes is the default chunk for WriteSnapshot: nodes
	// encoded per hold of the read lock. Encoding costs about 0.5 µs a
	// node (1M nodes of 100 bytes: 0.5 s in Next), so a chunk holds
	// writes up for about half a millisecond, plus the sort of a node's
	// child names when the chunk visits a node with many children.
	SnapshotChunkNodes = 1024

	// snapBufBytes is the file buffer for writing and reading.
	snapBufBytes = 1 << 20

	// snapBytesPerSync is how much of a snapshot is written between
	// background write-backs.
	snapBytesPerSync = 1 << 20

	// snapDecoderWindowBytesMax bounds the zstd window a body may ask for: the
	// encoder's default window is at most 8 MB; a corrupt frame header
	// must not make the decoder allocate gigabytes.
	snapDecoderWindowBytesMax = 64 << 20
)

// snapCRC is CRC-32C (hardware-assisted on amd64 and arm64).
var snapCRC = crc32.MakeTable(crc32.Castagnoli)

// ErrSnapshotCorrupt is matched (errors.Is) by every SnapshotCorruptError.
var ErrSnapshotCorrupt = errors.New("engine: snapshot corrupt")

// SnapshotCorruptError is the typed error for a snapshot file that fails
// its checks: torn, truncated, a bad magic or checksum, or a body that
// does not decompress or decode.
type SnapshotCorruptError struct {
	File   string
	Reason string
}

func (e *SnapshotCorruptError) Error() string {
	return "engine: snapshot corrupt: " + e.File + ": " + e.Reason
}

// Is makes errors.Is(err, ErrSnapshotCorrupt) true.
func (e *SnapshotCorruptError) Is(target error) bool { return target == ErrSnapshotCorrupt }

func snapCorrupt(file, format string, args ...any) error {
	return &SnapshotCorruptError{File: file, Reason: fmt.Sprintf(format, args...)}
}

// SnapshotName returns the file name of the snapshot starting at zxid.
func SnapshotName(zxid int64) string {
	return fmt.Sprintf("%s%016x", snapNamePrefix, uint64(zxid))
}

// parseSnapshotName returns the start zxid a snapshot file name holds; ok
// is false for any other name (a .tmp file included).
func parseSnapshotName(name string) (zxid int64, ok bool) {
	hex, found := strings.CutPrefix(name, snapNamePrefix)
	if !found || len(hex) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// WriteSnapshot writes a fuzzy snapshot of t into dir and returns its
// file name and start zxid. withReadLock must run its argument with the
// tree's read lock held (Apply excluded); WriteSnapshot calls it once to
// start and then once per chunk of chunkNodes nodes (SnapshotChunkNodes
// if chunkNodes <= 0), and compresses and writes outside it. The file is
// written as <name>.tmp, fsynced, renamed and the directory fsynced, so
// it appears whole or not at all; on error the .tmp is removed (an error
// from the final directory fsync leaves the renamed file, which is whole,
// but the snapshot may not survive a crash). A nil fs
// is vfs.Default. WriteSnapshot must not run concurrently with itself or
// with PurgeSnapshots on the same dir (one snapshot goroutine per server).
func WriteSnapshot(fs vfs.FS, dir string, t *tree.Tree, withReadLock func(func()), chunkNodes int) (name string, startZxid int64, err error) {
	if fs == nil {
		fs = vfs.Default
	}
	if chunkNodes <= 0 {
		chunkNodes = SnapshotChunkNodes
	}
	var sw *tree.SnapshotWriter
	withReadLock(func() { sw = t.NewSnapshotWriter() })
	startZxid = sw.StartZxid()
	name = SnapshotName(startZxid)
	path := fs.PathJoin(dir, name)
	tmp := path + snapTmpSuffix

	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return "", 0, fmt.Errorf("engine: snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			_ = fs.Remove(tmp)
			err = fmt.Errorf("engine: snapshot %s: %w", name, err)
		}
	}()
	// Write back every MB as the file grows (sync_file_range on Linux),
	// so the fsync at the end has little left to do: one fsync of a
	// 100 MB file would hold up the log's fsyncs behind it on the same
	// disk for as long as it takes.
	f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{BytesPerSync: snapBytesPerSync})
	bw := bufio.NewWriterSize(f, snapBufBytes)
	if _, err = bw.Write(snapHeader(startZxid)); err != nil {
		return "", 0, err
	}
	body := &snapBodyWriter{w: bw}
	// One encoder goroutine: a snapshot runs beside the server's real
	// work and need not finish fast, only steadily.
	enc, err := zstd.NewWriter(body, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return "", 0, err
	}
	if err = sw.WriteAll(enc, withReadLock, chunkNodes); err != nil {
		_ = enc.Close()
		return "", 0, err
	}
	if err = enc.Close(); err != nil {
		return "", 0, err
	}
	if _, err = bw.Write(snapTrailer(body.n, body.crc, startZxid)); err != nil {
		return "", 0, err
	}
	if err = bw.Flush(); err != nil {
		return "", 0, err
	}
	if err = f.Sync(); err != nil {
		return "", 0, err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", 0, err
	}
	if err = fs.Rename(tmp, path); err != nil {
		return "", 0, err
	}
	if err = snapSyncDir(fs, dir); err != nil {
		// The rename may or may not survive a crash. The file is whole
		// either way, so it stays; but the caller hears of the failure
		// and must not purge the log on the strength of this snapshot.
		return "", 0, err
	}
	return name, startZxid, nil
}

// snapBodyWriter counts and checksums the compressed body on its way to
// the file.
type snapBodyWriter struct {
	w   io.Writer
	n   uint64
	crc uint32
}

func (b *snapBodyWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.n += uint64(n)
	b.crc = crc32.Update(b.crc, snapCRC, p[:n])
	return n, err
}

func snapHeader(zxid int64) []byte {
	h := make([]byte, 0, snapHeaderBytes)
	h = append(h, snapMagic...)
	h = binary.BigEndian.AppendUint32(h, snapFormatVersion)
	h = binary.BigEndian.AppendUint64(h, uint64(zxid))
	return binary.BigEndian.AppendUint32(h, crc32.Checksum(h, snapCRC))
}

func snapTrailer(n uint64, crc uint32, zxid int64) []byte {
	t := make([]byte, 0, snapTrailerBytes)
	t = binary.BigEndian.AppendUint64(t, n)
	t = binary.BigEndian.AppendUint32(t, crc)
	t = binary.BigEndian.AppendUint64(t, uint64(zxid))
	return append(t, snapEndMagic...)
}

func snapSyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// snapFile is a snapshot file found in a directory listing.
type snapFile struct {
	name string
	zxid int64
}

// listSnapshots returns the snapshot files in dir, newest first, and the
// stray .tmp files. A missing dir holds none.
func listSnapshots(fs vfs.FS, dir string) (snaps []snapFile, tmps []string, err error) {
	names, err := fs.List(dir)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("engine: listing snapshots: %w", err)
	}
	for _, name := range names {
		if zxid, ok := parseSnapshotName(name); ok {
			snaps = append(snaps, snapFile{name, zxid})
		} else if strings.HasPrefix(name, snapNamePrefix) && strings.HasSuffix(name, snapTmpSuffix) {
			tmps = append(tmps, name)
		}
	}
	slices.SortFunc(snaps, func(a, b snapFile) int { return cmp.Compare(b.zxid, a.zxid) })
	return snaps, tmps, nil
}

// LoadNewestSnapshot restores the newest valid snapshot in dir and returns
// the tree, its start zxid and its file name; the caller then replays the
// log after startZxid. A snapshot that fails (torn, corrupt, unreadable)
// is logged at Warn with its file name and the reason, and the next older
// one is tried, as ZooKeeper does. With no valid snapshot (or no dir) it
// returns a fresh tree.New(), 0 and "": replay the whole log. Only a
// failure to list dir is returned as an error. A nil logger discards.
func LoadNewestSnapshot(fs vfs.FS, dir string, logger *slog.Logger) (*tree.Tree, int64, string, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	snaps, _, err := listSnapshots(fs, dir)
	if err != nil {
		return nil, 0, "", err
	}
	for _, s := range snaps {
		t, err := readSnapshot(fs, dir, s)
		if err != nil {
			logger.Warn("engine: skipping snapshot", "file", s.name, "reason", err)
			continue
		}
		return t, s.zxid, s.name, nil
	}
	return tree.New(), 0, "", nil
}

// ReadSnapshotFile checks the snapshot file at path (named as
// SnapshotName names them) and restores its tree, returning the zxid the
// snapshot starts at. A file that fails a check gives a
// *SnapshotCorruptError. For operators' tools; a restore uses
// LoadNewestSnapshot.
func ReadSnapshotFile(fs vfs.FS, path string) (*tree.Tree, int64, error) {
	if fs == nil {
		fs = vfs.Default
	}
	dir, name := fs.PathDir(path), fs.PathBase(path)
	zxid, ok := parseSnapshotName(name)
	if !ok {
		return nil, 0, fmt.Errorf("engine: %s is not named like a snapshot (snapshot.<16 hex digits>)", name)
	}
	t, err := readSnapshot(fs, dir, snapFile{name: name, zxid: zxid})
	if err != nil {
		return nil, 0, err
	}
	return t, zxid, nil
}

// readSnapshot checks a snapshot file and restores its tree.
func readSnapshot(fs vfs.FS, dir string, s snapFile) (*tree.Tree, error) {
	f, body, err := openSnapshot(fs, dir, s)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The body was checked whole before the decoder sees a byte of it,
	// so an error from here on is a bad write, not a torn one, or the
	// disk failing between the two reads; either way the file is no good.
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(bufio.NewReaderSize(body, snapBufBytes),
		zstd.WithDecoderMaxWindow(snapDecoderWindowBytesMax), zstd.WithDecoderMaxMemory(snapDecoderWindowBytesMax))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	t, start, err := tree.RestoreSnapshot(dec)
	if err != nil {
		return nil, snapCorrupt(s.name, "body: %v", err)
	}
	if start != s.zxid {
		return nil, snapCorrupt(s.name, "body starts at zxid %#x, file at %#x", start, s.zxid)
	}
	return t, nil
}

// openSnapshot opens a snapshot file and checks its header, trailer and
// body checksum; it returns the file and a reader over the body.
func openSnapshot(fs vfs.FS, dir string, s snapFile) (_ vfs.File, _ *io.SectionReader, err error) {
	f, err := fs.Open(fs.PathJoin(dir, s.name))
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size < snapHeaderBytes+snapTrailerBytes {
		return nil, nil, snapCorrupt(s.name, "truncated: %d bytes", size)
	}
	var hdr [snapHeaderBytes]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, nil, err
	}
	switch {
	case string(hdr[:8]) != snapMagic:
		return nil, nil, snapCorrupt(s.name, "bad magic %q", hdr[:8])
	case binary.BigEndian.Uint32(hdr[20:]) != crc32.Checksum(hdr[:20], snapCRC):
		return nil, nil, snapCorrupt(s.name, "header checksum mismatch")
	case binary.BigEndian.Uint32(hdr[8:]) != snapFormatVersion:
		return nil, nil, snapCorrupt(s.name, "format version %d, want %d", binary.BigEndian.Uint32(hdr[8:]), snapFormatVersion)
	case int64(binary.BigEndian.Uint64(hdr[12:])) != s.zxid:
		return nil, nil, snapCorrupt(s.name, "header zxid %#x", binary.BigEndian.Uint64(hdr[12:]))
	}
	var tr [snapTrailerBytes]byte
	if _, err := f.ReadAt(tr[:], size-snapTrailerBytes); err != nil {
		return nil, nil, err
	}
	n := binary.BigEndian.Uint64(tr[0:])
	wantCRC := binary.BigEndian.Uint32(tr[8:])
	switch {
	case string(tr[20:]) != snapEndMagic:
		return nil, nil, snapCorrupt(s.name, "no trailer (torn write?): %d bytes", size)
	case int64(binary.BigEndian.Uint64(tr[12:])) != s.zxid:
		return nil, nil, snapCorrupt(s.name, "trailer zxid %#x", binary.BigEndian.Uint64(tr[12:]))
	case n != uint64(size-snapHeaderBytes-snapTrailerBytes):
		return nil, nil, snapCorrupt(s.name, "trailer says %d body bytes, file holds %d", n, size-snapHeaderBytes-snapTrailerBytes)
	}
	body := io.NewSectionReader(f, snapHeaderBytes, int64(n))
	h := crc32.New(snapCRC)
	if _, err := io.Copy(h, bufio.NewReaderSize(body, snapBufBytes)); err != nil {
		return nil, nil, err
	}
	if got := h.Sum32(); got != wantCRC {
		return nil, nil, snapCorrupt(s.name, "body checksum %08x, want %08x", got, wantCRC)
	}
	return f, body, nil
}

// PurgeSnapshots keeps the newest retain valid snapshots in dir (retain is
// taken as given, at least 1; ZooKeeper's autopurge.snapRetainCount is
// 3), removes older snapshot files, valid or not, and stray .tmp files,
// and returns the start zxid of the oldest snapshot kept: recovery needs
// the log only after it, so the caller may purge log entries up to it. An
// invalid snapshot newer than the oldest kept one is left for inspection;
// it goes once enough newer ones exist. With no valid snapshot nothing is
// removed but .tmp files, and the result is 0 (keep the whole log). A
// snapshot that cannot be read (an I/O error, not a failed check) stops
// the purge with that error before anything is removed, so that a flaky
// disk never makes it drop the snapshots recovery would fall back to.
// Checking a file reads it whole (no decompression). Like WriteSnapshot,
// it must not run concurrently with WriteSnapshot on the same dir.
func PurgeSnapshots(fs vfs.FS, dir string, retain int) (oldestKeptZxid int64, err error) {
	if fs == nil {
		fs = vfs.Default
	}
	retain = max(retain, 1)
	snaps, tmps, err := listSnapshots(fs, dir)
	if err != nil {
		return 0, err
	}
	kept := 0
	cut := len(snaps) // snaps[cut:] are removed
	for i, s := range snaps {
		f, _, err := openSnapshot(fs, dir, s)
		if err != nil {
			if errors.Is(err, ErrSnapshotCorrupt) {
				continue
			}
			return 0, fmt.Errorf("engine: purging snapshots: %w", err)
		}
		_ = f.Close()
		kept++
		oldestKeptZxid = s.zxid
		if kept == retain {
			cut = i + 1
			break
		}
	}
	var firstErr error
	remove := func(name string) {
		if err := fs.Remove(fs.PathJoin(dir, name)); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("engine: purging snapshots: %w", err)
		}
	}
	for _, s := range snaps[cut:] {
		remove(s.name)
	}
	for _, name := range tmps {
		remove(name)
	}
	return oldestKeptZxid, firstErr
}

// SnapCountJitter returns after how many logged transactions the next
// snapshot is due, randomised as ZooKeeper's SyncRequestProcessor does so
// that the servers of an ensemble do not all snapshot at once: snapCount/2
// plus a uniform draw from [0, snapCount/2). snapCount below 2 is taken as
// 2, as ZooKeeper does. The caller snapshots once more transactions than
// this have been logged since the last snapshot, then draws again.
func SnapCountJitter(snapCount int, rnd *rand.Rand) int {
	snapCount = max(snapCount, 2)
	half := snapCount / 2
	return half + rnd.IntN(half)
}
