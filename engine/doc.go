// Package engine is zkd's durability layer. Today it holds the transaction
// log: every txn the leader proposes (or a follower accepts) is stored in
// pebble under its zxid, durably, before anyone acknowledges it; Zab reads
// it back for replica sync (DIFF), cuts it for TRUNC, and retention purges
// what the snapshots cover. Group commit makes durability cheap: appends
// that arrive while an fsync is in flight are written together and share
// the next one. Log implements broadcast.Log, so the request pipeline
// commits through it in place of broadcast.MemLog. The package's other
// half is fuzzy snapshots (snapshot.go, whose comment gives their file
// format and why "newest valid snapshot, then replay of the log after its
// start zxid" recovers the exact tree); this comment covers the log.
//
// # Caller's contract
//
//  1. Open one Log per directory (OpenLog; pebble locks the directory).
//     LastZxid and FirstZxid tell what the log holds; recovery replays
//     Read(snapshotZxid+1, LastZxid(), apply).
//  2. Append with zxids strictly increasing, within and across calls; a
//     call with a zxid <= LastZxid() fails whole with ErrOutOfOrder and
//     writes nothing. jute.OpSync txns carry no change and are skipped.
//     Appends from several goroutines must reach the writer in zxid
//     order: assign the zxid and call Enqueue under one lock, then Wait
//     outside it (Append is Enqueue(txns).Wait()). They still share syncs.
//  3. Acknowledge a txn (ACK a proposal, answer a client) only after its
//     Append returned nil: then it survives any crash. An error means it
//     is not durable. In this process the failed group is rolled back
//     before the log takes another append, so the same zxids may be
//     appended again; after a crash it may or may not be there, like any
//     txn whose Append had not returned.
//  4. On ErrFailed, stop using the Log and restart the process: pebble
//     could not continue (see Errors); the next OpenLog is clean.
//  5. Read delivers records in zxid order and only up to the LastZxid at
//     the call. Its fn must not call Append, TruncateAfter, PurgeBefore or
//     Close (a reopen after a disk error waits for reads to finish).
//  6. TruncateAfter(z) before a new leader's txns replace the records
//     after z (Zab TRUNC). PurgeBefore(z) only with z <= the newest
//     snapshot's zxid; it always keeps the newest record. A TruncateAfter
//     or PurgeBefore that returned an error may or may not have taken
//     effect: call it again.
//  7. Close when done; requests still queued fail with ErrClosed.
//
// # Key and record format
//
//	key     = zxid, 8 bytes, big-endian (uint64; zxids are in [1, MaxInt64])
//	value   = CRC-32C (Castagnoli) of payload, 4 bytes, big-endian, then payload
//	payload = the txn as tree.Txn.Encode writes it (x.Encode(&jute.Writer{})),
//	          decoded with tree.DecodeTxn, which rejects trailing bytes
//
// Why it is safe:
//   - Big-endian keys of non-negative zxids sort bytewise in numeric
//     order, so pebble's default comparer iterates in zxid order and
//     OpenLog finds FirstZxid and LastZxid from the first and last keys
//     (two seeks) instead of a scan. Keys that are not 8 bytes, or name
//     zxid 0 or one above MaxInt64, are corrupt.
//   - A group of appends is one pebble batch, which pebble writes to its
//     WAL as one record and replays whole or not at all. So after a crash
//     the log is every group whose sync returned plus possibly a prefix of
//     the groups after it: never a gap, never half a group. The pinned
//     format (FormatWALSyncChunks and later) lets pebble's recovery tell a
//     torn unsynced WAL tail, which it drops, from damage to synced data.
//   - The checksum is end to end: pebble checks its own WAL chunks and
//     table blocks, but ours covers the payload from Encode to Decode,
//     across memtables, compactions and our own buffer reuse. The payload
//     carries the zxid too, and Read checks it against the key, so a
//     record under the wrong key is caught. Read reports a bad record as a
//     *CorruptError (errors.Is ErrCorrupt) naming the zxid, after
//     delivering the records before it; it never skips one.
//   - A zxid is written once: Append refuses zxids <= LastZxid, so a key
//     is rewritten only after TruncateAfter (or the rollback of a failed
//     group) deleted it.
//
// # Invariants
//
//   - Only the writer goroutine writes to pebble; it owns the batch and
//     the encoding buffers and reuses them for every group.
//   - LastZxid never exceeds what was acknowledged (or found at open):
//     the writer raises it only after the group's commit returned nil.
//     Read clamps to it, so it never shows a record that is not durable.
//   - Every record in the store with zxid <= LastZxid was acknowledged or
//     was there at open; records above it exist only between a failed
//     commit and the reopen that deletes them.
//   - Queues are bounded: queueMax requests wait for the writer (Enqueue
//     blocks beyond), and a group holds at most groupCountMax txns and
//     about groupBytesMax bytes (one oversized Append is written whole).
//
// # Errors
//
// Pebble treats a failed WAL write or sync as fatal: the WAL writer's
// error is sticky and DB.Apply calls Logger.Fatalf, whose default exits
// the process. The engine's pebble logger panics instead, and the writer
// recovers that one panic ("pebble: fatal commit error", raised after
// pebble released its commit locks), answers the whole group with the
// error, and closes the DB. The next request probes the disk (writes,
// syncs and removes a small file) and, once the probe passes, reopens
// pebble and deletes, durably, whatever the failed groups left above
// LastZxid (a group whose sync failed can still be in the WAL). So the Log
// serves again as soon as the disk does. It gives up for good (ErrFailed
// on every later call, never a panic) when pebble panics elsewhere (with
// NoSync, a failed background WAL write surfaces later as a panic inside
// pebble's commit, with its locks held; when that panic comes out of WAL
// rotation, pebble unlocks a mutex it no longer holds and the runtime's
// fatal error ends the process: forceSync=no and a failing disk can stop
// the server) or when the reopen's pebble.Open
// fails: a failed Open may leave a flush or compaction running that it
// started, and releases the directory lock, so opening again in the same
// process could put two stores on one directory. A Fatalf on one of
// pebble's own goroutines (a MANIFEST write failing during a background
// flush) still ends the process, as it would with pebble's default. A
// MANIFEST write failing in PurgeBefore (an Excise, made on the writer
// goroutine) is caught instead and leaves the Log failed (ErrFailed) until
// a restart.
//
// Fencing: every failed append (write, sync, out of order) ends a
// generation. EnqueueFenced appends carry the generation their caller
// prepared them under and are refused (ErrFenced, nothing written) once it
// has ended. The pipeline enqueues batch k+1 before batch k is durable;
// if k fails, k+1 assumed it, so it must not become durable either, even
// if the disk is back by the time it would be written.
//
// Purge uses pebble's Excise (a MANIFEST edit that drops the tables below
// the cut and trims the straddling one into a virtual table), not a range
// deletion: a range tombstone over the log's live keys made pebble compact,
// rewriting the kept log, which took about a fifth of the server's CPU
// under a sustained write load. Tables are uncompressed (records are
// written once and rarely read; ZooKeeper's log is not compressed either)
// with 64 KB blocks, so flushing a memtable costs few write calls.
//
// # Cost sketch
//
// Per Append: one channel send and receive, and a share of one group
// commit: one pebble batch commit (a WAL write of the group's bytes plus
// one memtable insert per txn) and one fsync (none with NoSync). Per txn:
// encoding (a copy of its data), a CRC-32C (hardware, > 10 GB/s) and a
// copy into the batch. The fsync dominates. On the 2-core VM these numbers
// come from (ext4 on virtio, shared with other work, fsync 0.15 to 0.75
// ms), 1 KB txns with fsync on: one appender gets 1,300 to 6,400 txns/s (1
// txn/sync); 10 concurrent appenders 9,500 to 17,000 (4.8 txns/sync); 100
// get 37,000 to 77,000 (30 to 50); 1000 get 62,000 to 100,000 (95 to 144),
// where the CPU (2 cores: encoding, copies, 1000 goroutines) is the limit
// (BenchmarkAppend). Without a timer a group is whoever queued during the
// previous sync, so n steady appenders split into groups of about n/2.
// Disk: each record (payload + 12 bytes, plus pebble's per-entry overhead)
// is written to the WAL and again when its memtable is flushed; keys only
// grow, so compactions mostly move whole tables. Memory: two memtables of
// memTableBytes (32 MB) at most, pebble's 8 MB block cache, the batch (up
// to 2 × groupBytesMax retained) and the queued requests.
//
// # Designs not taken
//
//   - Pipelined commits inside pebble (ApplyNoSyncWait, building group
//     n+1 while group n syncs): pebble marks it experimental and a failure
//     would then span two groups. The overlap is one level up instead: the
//     pipeline prepares and enqueues the next batch while this one syncs,
//     and the writer commits whatever queued during the sync as one group.
//   - A delay to let groups grow: it adds its length to every commit at
//     low load, where latency matters most; under load the queue that
//     builds up during each fsync groups appends anyway.
//   - Keeping the failed DB open after a write error: pebble's WAL error
//     is sticky and its next WAL write panics, so the DB must be replaced.
package engine
