// Command zkimport moves an Apache ZooKeeper 3.x deployment to zkd with
// its data: it reads ZooKeeper's version-2 directory (snapshot.* and
// log.* files), rebuilds the tree ZooKeeper would restore from them, and
// writes it as a new zkd data directory (engine/zkimport does the work).
//
//	go run ./tools/zkimport -zk /var/lib/zookeeper/version-2 -data ./zkd-data
//	go run ./tools/zkimport -zk /var/lib/zookeeper -zk-log /srv/zk-log -data ./zkd-data -log ./zkd-log
//
// It prints the snapshot used (and any newer one skipped, with why), each
// log file read with how its records ended, the log records applied, the
// nodes and sessions imported, the last zxid, and whether the tree
// matches the digest ZooKeeper 3.6+ recorded.
//
// # Caller's contract
//
//  1. Stop ZooKeeper first (or point -zk at a copy of a stopped server's
//     directory): files that change while they are read give a torn or
//     inconsistent import.
//  2. -data must name a missing or empty directory; zkimport refuses to
//     write over anything. Start zkd on it with the same dataDir (and
//     dataLogDir, if -log was given).
//  3. Exit status 0: imported and verified (the written directory was
//     restored as zkd will restore it, and gave the same tree); 1: an
//     error (corrupt files, a missing log, a digest mismatch: nothing
//     written; or the check of what was written failed: remove -data
//     before trying again); 2: bad usage.
//
// # Invariants
//
//   - ZooKeeper's directory is only read.
//   - The imported tree is exactly what ZooKeeper itself would restore
//     (newest valid snapshot plus the log after it), or the command fails:
//     a hole in the log or a digest mismatch is an error, never a silent
//     partial import (-ignore-digest overrides the latter only).
//
// # Cost sketch
//
// The whole tree is built in memory (about what zkd needs to serve it),
// every log record after the snapshot is decoded and applied once, and
// the tree is walked a few times: for ZooKeeper's digest, for the zkd
// snapshot, and for the check after restoring it. Log files are read
// sequentially, including their preallocated zero tail (64 MB each by
// default).
package main
