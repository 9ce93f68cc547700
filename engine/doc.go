// Package engine is zkd's durability layer: the transaction log on pebble
// (key = zxid, big-endian), group commit (one fsync for a batch of
// transactions), zstd-compressed fuzzy snapshots with checksums, recovery
// (newest valid snapshot, then replay of the log after it), truncation and
// log reads for replica sync, and purge of old files.
//
// It plugs into the request pipeline behind broadcast.Log (Append returns
// once a batch is durable). Until it lands, a standalone zkd commits
// through broadcast.MemLog and keeps its data in memory only; the durable
// engine is tracked as its own issue.
package engine
