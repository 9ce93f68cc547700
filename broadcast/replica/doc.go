// Package replica is the driver that runs the Zab core (broadcast/zab) on
// real time, sockets (broadcast/peer) and storage: one goroutine owns the
// core, turns ticker ticks into Tick, peer messages into Step and calls
// into Propose and Status, and carries out each Ready in the order the
// core's contract asks (send Messages; persist snapshot, truncation,
// entries and hard state through Storage; then send MessagesAfterPersist;
// then apply Committed; then Advance).
//
// # The caller's contract
//
//  1. Give Start a zab.Config (with the restart state Storage persisted),
//     a peer.Config with the same ID, a Tick duration, a Storage and a
//     StateMachine. Storage.Persist returns only once its Ready is
//     durable; the StateMachine is called from the loop goroutine only.
//  2. Propose on the established leader; entries reach every replica's
//     StateMachine once a quorum has them on disk. Status tells who leads.
//  3. Stop ends the loop and the transport. A Persist or Restore error
//     stops the replica too (the core cannot take a Ready back), and Stop
//     returns it.
//
// Not yet here (the replication issue's next steps): an engine.Log-backed
// Storage (one fsync per Ready, a hard-state record, and a commit
// watermark so that a restart does not apply the uncommitted tail of the
// log), snapshots through zab.SnapshotSource and Compact, and the wiring
// into broadcast.Pipeline, netio and cmd/zkd.
//
// Cost sketch: per Ready one Persist (one fsync with a durable Storage),
// one Send per message (queued; the transport batches writes), and one
// StateMachine call; per Propose a round trip to the loop goroutine.
package replica
