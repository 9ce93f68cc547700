// Package netio is zkd's client front end: a gnet v2 event-loop server
// that speaks ZooKeeper's client protocol (package jute), keeps sessions
// and connections, serves reads from the local tree, hands writes to the
// request pipeline (package broadcast) and sends replies and watch events
// back, in order.
//
// How a request flows:
//  1. OnTraffic cuts length-prefixed frames out of gnet's inbound buffer
//     (a frame over Config.MaxRequestBytes or a malformed one closes that
//     connection, with a log line; nothing else is affected).
//  2. A read is served at once under the tree's read lock, unless the
//     session has writes in flight: then it waits in the connection's
//     deferred queue until they complete (FIFO per session; other sessions
//     never wait on it).
//  3. A write goes to the pipeline. When its batch commits, Server.Apply
//     takes the tree's write lock, applies each txn, queues the watch
//     events it fires on their connections, then queues the reply and
//     serves the reads that waited for it.
//  4. Every byte for a connection goes through its one outbound queue
//     (conn.out, under conn.mu), flushed on the connection's event loop.
//     Because events are queued while Apply holds the write lock and a
//     read's reply is queued while holding the read lock, a client always
//     receives a watch event before any reply that shows the change.
//
// In an ensemble (NewEnsembleServer) the committer is broadcast.Ensemble,
// which calls Apply from its replica's loop for every committed txn,
// local or not; the server is its Host (ensemble.go): it learns sessions
// created through other servers as their txns apply, reports its live
// sessions for the leader to keep, expires sessions and reaps containers
// only while leading, refuses clients while it has no established leader
// and drops them all when the leader changes.
//
// Invariants: gnet callbacks do not block on other connections; every
// queue is bounded (outbound bytes per connection, outstanding writes per
// connection, the pipeline queue); a slow client is disconnected rather
// than allowed to grow the server's memory.
//
// Cost sketch: a read costs one map lookup in the tree, one encode into the
// connection's pooled outbound buffer and one write syscall per flush (many
// replies share one flush under pipelining). A write adds one channel send
// and its share of a batch.
package netio
