// Package broadcast orders write requests into transactions and commits
// them: it is where Zab's atomic broadcast will live. Today it holds the
// leader's request pipeline for a standalone server: prepare (tree.Preparer
// turns a request into an idempotent transaction with a zxid), commit (a
// Log makes a batch durable; later a quorum of followers will too), apply
// (a StateMachine applies the batch in zxid order and answers clients).
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
