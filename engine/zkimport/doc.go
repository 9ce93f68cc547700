// Package zkimport migrates an Apache ZooKeeper 3.x deployment to zkd with
// its data. It reads the files a ZooKeeper server keeps in its version-2
// directory (snapshot.<zxid> and log.<zxid>), rebuilds the tree that
// server would restore from them (the newest valid snapshot, then every
// logged transaction after it, each converted to zkd's tree.Txn and
// applied with tree.Apply, as zkd's own recovery does), checks it against
// the tree digests ZooKeeper 3.6+ records, and writes it as a new zkd
// data directory: one zkd snapshot at the last imported zxid and an empty
// log. tools/zkimport is the command around it.
//
// # Caller's contract
//
//  1. Stop the ZooKeeper server, or work on a copy of a stopped server's
//     directory: files that change while they are read make a torn or
//     inconsistent import.
//  2. Call Import with the ZooKeeper directory (and its dataLogDir when it
//     has one) and a zkd data directory that is missing or empty. Load
//     does the same without writing, for inspection and tests.
//  3. Read the Result: which snapshot was used and which newer ones were
//     skipped and why, how each log file ended (cleanly or with a torn
//     last record, which ZooKeeper drops too), what was applied, whether
//     the digests matched.
//  4. Start zkd on the written directory. It restores the snapshot, goes
//     on with zxids after the imported ones, and keeps the imported
//     sessions (netio gives each a full timeout to reconnect).
//
// # File formats (all integers big-endian, jute encoding)
//
// Snapshot, version-2/snapshot.<zxid, hex>, optionally compressed whole
// (ZooKeeper 3.6+ zookeeper.snapshot.compression.method: ".gz" is gzip,
// ".snappy" is snappy-java's stream, see compress.go); the zxid in the
// name is the last one applied when the snapshot started:
//
//	FileHeader  int magic 0x5a4b534e ("ZKSN"), int version 2, long dbid (-1)
//	sessions    int count, then count × {long id, int timeout ms}
//	ACL cache   int count, then count × {long ref, vector<ACL>}
//	nodes       {ustring path, buffer data, long ACL ref, StatPersisted}*,
//	            the root first as "", every node after its parent
//	end         ustring "/"
//	seal        long Adler-32 of every byte so far, ustring "/"
//	digest      3.6+: long zxid, int version, long digest (version 1: a hex
//	            ustring), then a seal over everything so far
//	last zxid   3.9+ (unless zookeeper.serializeLastProcessedZxid.enabled
//	            is false): long zxid, then a seal
//
// with StatPersisted = long czxid, mzxid, ctime, mtime; int version,
// cversion, aversion; long ephemeralOwner, pzxid, and ACL ref -1 meaning
// world:anyone with every permission (ZooKeeper keeps no list for it).
//
// Log, version-2/log.<zxid of its first record, hex>, preallocated with
// zeros (64 MB by default):
//
//	FileHeader  int magic 0x5a4b4c47 ("ZKLG"), int version 2, long dbid (0)
//	record      long Adler-32 of payload, int n, n bytes payload, byte 'B'
//	payload     TxnHeader{long session, int cxid, long zxid, long time, int type},
//	            the type's record, then 3.6+ TxnDigest{int version, long digest}
//
// DecodeEntry lists the records and what each becomes; a multi is
// MultiTxn{vector<{int type, buffer record}>}. Three irregular cases are
// handled as ZooKeeper handles them: a create in the pre-3.3 layout (no
// parent cversion), a closeSession with no record (before 3.6, or
// zookeeper.closeSessionTxn.enabled=false), and a stand-alone check,
// which 3.8.0 logs but cannot read back.
//
// # Why the import is the tree ZooKeeper had
//
// ZooKeeper's snapshots are fuzzy like zkd's: written while transactions
// go on, so each node is as it was at some moment after the name zxid.
// ZooKeeper's transactions carry final values (the new version, the
// parent's new cversion, the final sequential name) exactly as zkd's do,
// so the conversion is field for field, and tree.Apply's idempotence over
// a fuzzy snapshot (see engine's snapshot.go) makes the replay of every
// record after the name zxid converge on the tree ZooKeeper had after its
// last logged transaction. Two checks stand guard:
//
//   - Continuity: ZooKeeper gives each transaction the next zxid of its
//     epoch (the high 32 bits), so the records applied must be strictly
//     increasing and, within an epoch, contiguous from the snapshot on. A
//     hole means a missing or cut log file, and the import fails rather
//     than leave out acknowledged writes.
//   - Digests: ZooKeeper 3.6+ records the digest of its whole tree (Digest
//     gives the function) in every log record and at the end of every
//     snapshot. The import computes it at the snapshot's digest zxid and
//     at the last record, and fails on a mismatch (Options.IgnoreDigest
//     overrides). The snapshot's own digest only decides when no log
//     record's digest follows: ZooKeeper writes it after the nodes, so a
//     transaction applied during the write can leave it a transaction off
//     the fuzzy tree (ZooKeeper itself only logs that), and such a
//     mismatch is reported as Result.SnapshotMismatch. The e2e test checks
//     digests against a real ZooKeeper 3.8.
//
// A log record that is cut short, or fails its checksum or its 'B', with
// nothing but zeros after it, is a write torn by a crash: never
// acknowledged, dropped as ZooKeeper drops it, and reported. With data
// after it, it is corruption: a *CorruptError naming the file and offset.
//
// # Invariants
//
//   - ZooKeeper's files are only read; Import writes only below DataDir
//     (and LogDir), and only when they hold nothing yet.
//   - Every decoder bounds what a length or count read from a file may
//     allocate by the bytes really there (fuzz_test.go).
//   - Import succeeds only after zkd's own restore (engine.OpenStore) of
//     the written directory gave a tree with the same digest and last
//     zxid as the one imported.
//
// # Cost sketch
//
// Memory: the tree, as zkd needs to serve it (tree's doc.go: about 250 MB
// for a million small nodes), plus one log record at a time. Time: one
// decode and Apply per record after the snapshot (microseconds), one
// sequential read of every selected file including the zero tail of each
// log, and a few walks of the whole tree (ZooKeeper's digest: one CRC-32
// over each path and each node's data per check; the zkd snapshot; the
// restore check). A million-node tree imports in seconds, dominated by
// building and writing the tree, not by the log.
package zkimport
