// Package wire is a minimal ZooKeeper client that speaks the protocol
// through zkd's own codec (netio/jute). The benchmark driver uses its
// pipelined half (Send, Flush, Recv: no allocation per request once warm);
// differential and end-to-end tests use its synchronous half (Call), which
// also records every watch event in the order it arrived relative to the
// replies.
//
// A Conn is not safe for concurrent use; one goroutine drives it.
package wire
