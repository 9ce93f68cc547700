// Package tree is zkd's in-memory znode database, the state machine every
// server replicates: znodes in uint32-addressed slab chunks (child list
// links, Stat as ZooKeeper stores it, an interned ACL), their paths and
// data in a blob arena, one path index over them, the ephemeral index
// per session, the container and TTL sets, the session table, the watch
// tables, and Apply, which applies one committed transaction. Preparer is
// ZooKeeper's PrepRequestProcessor: it turns a write request into a
// transaction that carries final values, checked in ZooKeeper 3.8's order
// against the tree plus an overlay of prepared-but-unapplied changes. The
// package does no I/O, reads no clock and starts no goroutines
// (imports_test.go enforces it).
//
// # Caller's contract
//
//  1. One goroutine prepares and applies: it calls Preparer.Prepare, then
//     Tree.Apply on the committed txns in the order they were prepared,
//     then Preparer.Applied with the last zxid applied.
//  2. Apply runs with reads excluded (netio holds a RWMutex: reads share
//     it, Apply holds it alone). Watches has its own lock, so reads that
//     share the tree may register watches.
//  3. The caller delivers the events Apply returns, to each watcher in the
//     order given, before any reply that could show the new state.
//  4. A fuzzy snapshot is taken with NewSnapshotWriter and repeated
//     SnapshotWriter.Next calls, each under the tree's read lock, which
//     may be released between calls while Apply goes on.
//  5. Recovery uses RestoreSnapshot, then applies the log from the
//     snapshot's start zxid: replaying txns the snapshot already holds is
//     safe (see Apply), and Digest tells whether two trees hold the same
//     state. The snapshot records the digest at the zxid it ended at;
//     Apply compares it when the replay gets there, and TakeDigestCheck
//     tells the caller how that went.
//
// # Invariants
//
//   - The path index, the parent links and the child lists agree; every
//     node's ACL reference is counted; the ephemeral, container and TTL
//     indexes hold exactly the nodes whose owner says so; DataBytes is the
//     sum of ZooKeeper's node sizes (tree_test.go's checkInvariants).
//   - Apply is deterministic (map order never leaks: events are sorted per
//     trigger, multi-path work runs in sorted order) and idempotent over a
//     snapshot taken at any point of the history it replays.
//   - Stat is stored as ZooKeeper's StatPersisted (cversion counts child
//     creations) and shown as its Stat (cversion counts creations plus
//     deletions); container and TTL owners are shown as 0.
//   - Reads (Get, Stat, Data, ACL) allocate nothing; Children allocates
//     the names it returns.
//
// # Memory layout
//
// Nothing per znode is a Go object: a node is 96 bytes in a slab chunk of
// 1,024 nodes and holds no pointer; its path and data are one blob in
// blobArena's 1 MiB pages (size classes, free lists); the path index is
// one array of 8-byte slots. The collector sees a few hundred big
// pointer-free objects for a million znodes, so a collection costs little
// whatever the tree's size and the server can run with a small GC
// headroom (cmd/zkd tunes GOGC to it). The price is that a blob's bytes
// are reused once the node is deleted or its data replaced: Data and
// Node handles are valid until the next Apply, and whatever is kept
// longer is copied (Children copies names; netio encodes replies under
// the read lock; the snapshot writer copies as it goes).
//
// The blob holds the whole path, not just the name, so that a lookup
// confirms a match with one comparison at the head of the blob it reads
// the data from next. Keeping only the name is 17 bytes a znode smaller
// on BenchmarkTreeMemory's tree, but a lookup must then check every
// ancestor's name, a chain of dependent cache misses that made Get 2 to
// 4 times slower on big trees (measured, BENCHMARKS.md section 2).
//
// # Cost
//
// A znode costs 96 bytes of slab, its path and data rounded up to a
// 16-byte class (an eighth of the size above 1 KiB), and 10 to 15 bytes
// of path index: a million 100-byte znodes at /bigtree/dNNNN/nNNNNNNN
// take about 236 bytes each (BenchmarkTreeMemory), against 254 with Go
// maps and a slice per node before. Get hashes the path once, probes the
// index and compares the path in the node's blob: about 70 ns in a small
// tree, about 430 ns in a million-znode tree read at random (cache
// misses; the map-based tree before took about 390). Apply of a setData
// is a lookup, a blob from the free list and a copy (no allocation
// without watches); a create adds a slab slot, a blob and an index slot.
// Prepare costs a few lookups and about six small allocations. Digest is
// kept up to date as Apply goes: each change hashes the nodes it touches
// before and after (about 80 ns for a node of 1 KB).
package tree
