// Package jute is ZooKeeper's client wire format: the jute primitives
// (big-endian ints and longs, length-prefixed strings, buffers and vectors),
// every client record of Apache ZooKeeper 3.8, and the protocol constants
// (opcodes, error codes, event types, create modes, permissions).
//
// It is the one package that netio, tree, broadcast, engine, bench and the
// tests share, so it imports nothing of the project and does no I/O.
//
// Contract for callers:
//  1. Encode appends to a Writer; the caller frames the result with a
//     4-byte big-endian length (AppendFrame helps).
//  2. Decode reads from a Reader over one whole frame. Errors are sticky:
//     decode a whole record, then check Reader.Err once.
//  3. A length prefix larger than what remains is ErrShort before anything
//     is allocated, so a hostile frame cannot make the server allocate
//     gigabytes. Decoding may still allocate a small multiple of the frame
//     (vectors of records are larger in memory than on the wire); the frame
//     limit (jute.maxbuffer) bounds that.
//
// Cost: encoding appends into a caller-owned slice (no allocation once the
// slice has grown); decoding allocates only the strings and byte slices a
// record holds.
package jute
