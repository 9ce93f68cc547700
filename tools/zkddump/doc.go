// Command zkd-dump prints what a stopped zkd server left in its data
// directory: the newest valid snapshot as a sorted tree, or the
// transaction log, one line per record. It is an operator's tool for
// looking at a data directory after an incident; it never changes it.
//
//	go run ./tools/zkddump -data ./zkd-data [-snapshot] [-show-data]
//	go run ./tools/zkddump -data ./zkd-data -log [-from 0x100] [-to 0x200]
//
// # Caller's contract
//
//  1. Point -data at a server's data directory (it holds snapshots/ and
//     log/). Run it on a stopped server or on a copy: the log is copied
//     before it is opened, and a copy taken while pebble writes may miss
//     the newest records.
//  2. Exit status 0 means everything asked for was printed; 1 an error
//     (missing directory, no valid snapshot, a corrupt log record, which
//     is printed with its zxid after the records before it); 2 bad usage.
//
// # Invariants
//
//   - The data directory is only read. engine.OpenLog opens pebble
//     read-write, and pebble's Open writes on every open (a new WAL, an
//     OPTIONS file, a MANIFEST edit, a flush of the recovered WAL, the
//     removal of obsolete files). So the log directory is copied into a
//     temporary directory first (immutable .sst and .blob files are hard
//     linked when the file system allows, copied otherwise) and OpenLog
//     runs on the copy, which is removed afterwards.
//   - Output is deterministic for a given directory: the tree is printed
//     depth-first with children in sorted order, the log in zxid order.
//
// # Cost sketch
//
// Snapshot: the whole tree is restored in memory (as a restart does;
// about the snapshot's uncompressed size plus per-node overhead) and one
// line per znode is written through a buffer. Log: disk space and time
// for the copy of the log's mutable files (WAL, MANIFEST; sstables are
// linked), then one decode per record in range; memory holds one record
// at a time.
package main
