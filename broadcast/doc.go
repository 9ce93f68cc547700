// Package broadcast orders write requests into transactions and commits
// them. Two committers share one shape, prepare (tree.Preparer turns a
// request into an idempotent transaction with a zxid) → commit → apply (a
// StateMachine applies transactions in zxid order and answers clients):
// Pipeline for a standalone server, where commit is a durable Log, and
// Ensemble for a member of an ensemble, where commit is Zab (package zab,
// run by package replica over package peer): a quorum has the
// transaction on disk.
//
// # Ensemble
//
// On the leader, requests are prepared and proposed on the replica's loop
// goroutine, which also applies what commits: that goroutine is the only
// writer of the tree, so the Preparer needs no lock, and one batch of
// requests (all that queued while the loop was busy) becomes one Ready:
// one fsync and one PROPOSAL per follower. A follower forwards its
// clients' writes to the leader (zab.MsgForward, payloads in forward.go)
// and, as ZooKeeper's CommitProcessor does, answers each when a committed
// transaction with its (session, cxid) comes back; every transaction,
// error transactions included, comes back, so per-session FIFO matching
// holds. A sync through a follower asks the leader for its last proposed
// zxid and is answered once the follower's tree has reached it. When a
// server stops serving or its leader changes, requests in flight are
// failed and its clients dropped (they reconnect and resubmit, as with
// ZooKeeper). Sessions are global: createSession and closeSession are
// transactions, followers report the sessions their clients keep alive
// (fwdTouch), and the leader alone expires sessions and reaps containers
// and TTL nodes. A server asked to resume a session it has not learned
// (or by a client that has seen a newer zxid) syncs with the leader
// before it answers, so a client may move to a lagging server at once
// (netio's revalidate). A follower too far behind the leader's in-memory log
// gets a snapshot of the leader's tree (SNAP).
//
// # Pipeline
//
// Contract for the caller:
//  1. Submit requests from any goroutine; one session's requests must be
//     submitted in the order the client sent them.
//  2. The StateMachine is called from one goroutine (the applier), with
//     batches in zxid order; it must apply every txn before returning,
//     holding the write side of the lock whose read side it gave
//     NewPipeline.
//  3. Nothing but the StateMachine mutates the tree.
//
// Group commit and pipelining: Run takes every request waiting when it
// comes around (up to batchCountMax and batchBytesMax), prepares them
// under the tree's read lock, and enqueues the batch on the log without
// waiting for it; up to inflightMax batches are in flight. A durable log
// commits the batches that queue during one fsync together with the
// next. The applier waits for each batch in order and applies it. When
// load is light a batch holds one request and nothing waits on a timer.
//
// Failure: a batch is prepared assuming every batch before it commits. If
// one fails, the log (PipelinedLog) refuses every batch enqueued behind it
// for the old generation, so no later batch becomes durable across the
// gap; all of them are answered with errors, and before preparing again
// Run waits for the in-flight batches to drain, discards the Preparer's
// overlay and reuses the failed zxids.
//
// Cost sketch: per batch one enqueue, one wait and one StateMachine.Apply;
// per request one prepare (map lookups on the overlay and the tree) and
// one channel receive.
package broadcast
