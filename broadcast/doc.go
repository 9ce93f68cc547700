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
//  2. The StateMachine is called from the pipeline goroutine only, with
//     batches in zxid order; it must apply every txn before returning.
//  3. Nothing but the pipeline goroutine mutates the tree.
//
// Group commit: the pipeline takes every request waiting when it comes
// around (up to batchCountMax and batchBytesMax), prepares them, and hands
// the batch to Log.Append as one unit (one fsync for a durable log). When
// load is light a batch holds one request and nothing waits on a timer.
//
// Cost sketch: per batch one Append and one StateMachine.Apply; per request
// one prepare (map lookups on the overlay and the tree) and one channel
// receive.
package broadcast
