// Package peer is the network driver under broadcast/zab: it carries
// zab.Messages between the servers of an ensemble over TCP, with what Zab
// asks of a link: FIFO per link, no duplicates, no corruption; a link may
// break and lose what was in flight, which the core notices and repairs by
// resynchronising. The package knows nothing of the protocol beyond a
// message's From and To.
//
// # Connections
//
// Each server dials every peer and uses that outbound connection only to
// send; it accepts inbound connections only to receive. A pair of servers
// so holds two connections, one per direction, and no tie-breaking is
// needed when both dial at once. Zab needs order only within a direction
// (the leader's PROPOSALs, COMMITs and PINGs in the order it sent them;
// a follower's ACKs in order), never across the two, so nothing is lost
// by splitting them. A connection starts with a handshake each way (magic,
// protocol version, sender's id, the id it expects to reach; wire.go);
// the dialer sends frames (4-byte big-endian length, then
// zab.AppendMessage's bytes) only after the acceptor answered with its own
// handshake. A wrong magic, version, or an unknown id or this server's own
// id, a frame over MaxFrameBytes or one zab.DecodeMessage refuses, closes
// that connection only, with a logged reason; a message whose From or To
// does not match the handshake is dropped and logged. A second connection
// from a peer that already has one replaces the older one (the older may
// be half-open after a crash); the newer one's messages are delivered only
// once the older one's reader has stopped.
//
// # The caller's contract
//
//  1. Build a Config with this server's id, its peer port and every other
//     server's; New validates it (WithDefaults fills the zero fields).
//  2. Start listens (a listen error is returned) and dials every peer in
//     the background, redialing with exponential backoff and jitter,
//     between DialBackoffMin and DialBackoffMax, for as long as it runs.
//  3. Send(m) for each message the core hands out, with m.From = Config.ID.
//     Send never blocks; it does not report whether m will arrive. Do not
//     modify m's slices afterwards: the writer encodes them later.
//  4. Drain Recv() and Step each message into the core. Messages from one
//     peer arrive in the order it sent them. A consumer that stops
//     draining stalls every link (TCP pushes back) until senders' write
//     timeouts break them.
//  5. Stop when done: it closes the listener and every connection, waits
//     for the transport's goroutines and closes Recv's channel.
//
// # Invariants
//
//   - FIFO per link: the messages that one transport delivers from a peer
//     are a subsequence of what that peer sent to it, in order, with no
//     message twice. Gaps occur only where the link broke: what was in
//     flight (written but unread, or queued but unwritten) is lost, and
//     later messages go on a new connection.
//   - No silent gap: a message is never skipped on a connection that goes
//     on carrying later ones. When a peer's queue is full (SendQueueMax),
//     Send drops the new message and the queue and breaks the link; a
//     message over MaxFrameBytes is dropped and the link broken after the
//     messages before it. Both are counted in Stats (Dropped).
//   - Every queue and buffer is bounded: SendQueueMax messages per peer,
//     RecvQueueMax delivered messages, MaxFrameBytes per frame, 64 pending
//     handshakes, reused write and read buffers released after a large
//     message, one Write call per 1 MiB with a fresh WriteTimeout deadline.
//   - Every goroutine ends at Stop; Stop waits for them.
//
// # Cost sketch
//
// Per message sent: one append to the queue under a mutex, an encoding
// into the writer's reused buffer (a copy of the entries' bytes), and a
// share of a write system call: the writer takes every queued message at
// once and writes up to 256 KiB per call, so a burst of PROPOSALs and
// COMMITs for one follower costs one syscall, like group commit. Per
// message received: a buffered read (64 KiB buffer per connection),
// DecodeMessage (which copies entries out of the reused frame buffer, so
// delivered messages alias nothing) and one channel send. Memory per peer:
// the queue (references to messages, not copies), a write buffer of about
// 256 KiB (more transiently for a big message) and a 64 KiB read buffer.
// Goroutines: one accept loop, per peer a writer and a watcher on its
// outbound connection, one reader per inbound connection. With 13
// servers, 24 connections per server. On loopback (BenchmarkLink, 2
// cores) one link carries about a million small messages per second, or
// about 1 GB/s of 64 KiB entries: far above what fsync-bound Zab needs.
//
// # Tests
//
// transport_test.go runs 3 and 5 transports on 127.0.0.1 and checks
// delivery in order without duplicates, breaks links and restarts servers
// mid-stream and checks that each link delivers a subsequence with gaps
// only at breaks, sends bad handshakes, oversized and garbage frames next
// to a healthy link, and checks that Send never blocks on a dead or stuck
// peer. wire_test.go fuzzes the handshake decoder and the frame reader
// (FuzzHandshake, FuzzFrameReader; seeds in testdata/fuzz). Every test
// checks that no goroutine outlives it.
//
// # Designs not taken
//
//   - One connection per pair carrying both directions: it needs a rule
//     for which dial wins when both servers dial at once, and a break in
//     either direction breaks both; nothing in Zab profits from sharing.
//   - Blocking Send, or an unbounded queue: the core must not stall on a
//     slow follower, and memory must stay bounded; loss with a break is
//     what Zab already handles.
//   - Refusing a second connection from a peer that has one: a half-open
//     old connection would lock the peer out until TCP keepalive noticed.
package peer
