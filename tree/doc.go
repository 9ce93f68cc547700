// Package tree is zkd's in-memory znode database, the state machine every
// server replicates: znodes in uint32-addressed slab chunks (data, child
// map, Stat as ZooKeeper stores it, an interned ACL), the ephemeral index
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
//     state.
//
// # Invariants
//
//   - The path index, the parent links and the child maps agree; every
//     node's ACL reference is counted; the ephemeral, container and TTL
//     indexes hold exactly the nodes whose owner says so; DataBytes is the
//     sum of ZooKeeper's node sizes (tree_test.go's checkInvariants).
//   - Apply is deterministic (map order never leaks: events are sorted per
//     trigger, multi-path work runs in sorted order) and idempotent over a
//     snapshot taken at any point of the history it replays.
//   - Stat is stored as ZooKeeper's StatPersisted (cversion counts child
//     creations) and shown as its Stat (cversion counts creations plus
//     deletions); container and TTL owners are shown as 0.
//   - Reads (Get, Stat, Data, ACL) allocate nothing.
//
// # Cost
//
// A node costs 120 bytes of slab and roughly 100 bytes of map entries (the
// path index and its parent's child map), plus its path (the name shares
// it) and data: a million small nodes with one ACL take about 250 MB.
// Get is one map lookup (about 70 ns); Apply of a setData is a lookup and a few
// stores (about 200 ns, no allocation without watches); a create adds a
// map insert in the parent and the path index. Prepare costs a few
// lookups and about six small allocations. Digest walks everything.
package tree
