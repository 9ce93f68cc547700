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
// Storages: MemStorage (tests) and EngineStorage, which keeps entries in
// an engine.Log (an entry's Data is an encoded tree.Txn, so the replicated
// log is the server's transaction log; one fsync per Ready), the hard
// state in a checksummed file replaced atomically, and the newest
// snapshot (a leader's SNAP, or the server's own, SaveSnapshot) in a
// checksummed file; a saved snapshot purges the log before it. A restart
// (RestartWithSnapshot) begins from the snapshot with Applied = its zxid:
// the state machine is restored from it and the core hands the committed
// entries after it out again, so nothing uncommitted is applied.
//
// The driver also carries the server's own traffic on the peer links
// (zab.MsgForward, to Config.Forwarded) and runs Config.AfterReady after
// each turn; package broadcast's Ensemble uses both.
//
// Cost sketch: per Ready one Persist (one fsync with a durable Storage),
// one Send per message (queued; the transport batches writes), and one
// StateMachine call; per Propose a round trip to the loop goroutine.
package replica
