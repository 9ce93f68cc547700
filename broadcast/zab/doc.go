// Package zab is the Zab protocol core: leader election, discovery,
// synchronisation and broadcast (Junqueira, Reed and Serafini, DSN 2011;
// Medeiros 2012) as a deterministic state machine. Messages (Step), clock
// ticks (Tick) and proposals (Propose) go in; a Ready comes out with what
// to persist, what to send and what to apply; Advance hands it back. The
// core does no I/O, reads no clock, starts no goroutine and draws its only
// randomness (election jitter) from a generator seeded by Config.Seed, so a
// run is a function of its inputs: the simulation in sim_test.go runs many
// servers in one goroutine from one seed. Entries are opaque bytes under a
// zxid (epoch<<32 | counter); the driver puts encoded transaction batches
// there. The quorum protocol between zkd servers is ours; it does not
// speak Java ZooKeeper's.
//
// # The driver's contract
//
// A driver owns one Node and does, in a loop:
//
//  1. Feed it: Step(m) for each message from a peer (in the order each link
//     delivered them), Tick() every tick (ZooKeeper's tickTime), and
//     Propose(data) on the established leader. Step never blocks; messages
//     out of context are dropped.
//  2. When HasReady, take rd := Ready(). Ready must not be called again
//     before Advance.
//  3. Send rd.Messages at once, to the servers in their To fields. They may
//     go while step 4 runs: they depend on nothing unpersisted (the leader
//     sends PROPOSALs while its own log write is in flight, as Zab allows).
//  4. Persist, in this order: rd.Snapshot (replace the state machine's
//     snapshot and drop the whole log), rd.Truncate (drop log entries after
//     rd.TruncateAfter), rd.Entries (append), rd.HardState. They may share
//     one write and one fsync (a group commit); if they do not, a crash
//     must leave a prefix of that order: never the hard state without the
//     entries before it.
//  5. Only once step 4 is durable, send rd.MessagesAfterPersist. These are
//     the acknowledgements: ACKEPOCH promises never to follow an older
//     epoch, so the accepted epoch must survive a crash; ACKNEWLEADER and
//     ACK tell the leader that entries are on this disk, and the leader
//     counts them towards a quorum that commits. An ACK sent before the
//     fsync could let a quorum "hold" an entry that a crash of this server
//     then loses, so a committed (maybe already applied, answered) entry
//     could vanish from every later leader's history. NEWEPOCH from the
//     leader waits too: a leader that crashed before persisting its epoch
//     could offer the same epoch again with a different history.
//  6. Apply rd.Committed to the state machine in order, after step 4 (they
//     are then durable here too). Each committed entry comes out exactly
//     once per Node, in zxid order; a snapshot in rd.Snapshot counts as
//     applying everything up to its Zxid.
//  7. Call Advance. The core then counts the persisted entries as durable
//     (the leader's own acknowledgement, the follower's PING answers).
//
// Also: after making a snapshot of the applied state at zxid z (and once it
// is durable), the driver may drop its log up to z and call Compact(z). The
// SnapshotSource gives the leader the newest snapshot it holds, for a
// follower behind the log start. On restart the driver creates the Node
// from what it persisted: the hard state, the newest snapshot's zxid, the
// durable entries after it, and Applied = the snapshot's zxid: the core
// cannot know which of the logged entries are committed until a leader
// says so, so the state machine starts from the snapshot and the core hands
// out the committed entries after it again. Links between servers must be
// FIFO (TCP); they may break and lose what was in flight: the core notices
// gaps and resynchronises.
//
// # Phases
//
// Election (election.go): Fast Leader Election. Votes order by (current
// epoch, last zxid, id); a server decides when a quorum of its round agrees
// (after a short wait for a better vote), or joins a leader that a quorum
// of decided servers names. Timeouts are ticks with jitter.
//
// Discovery and sync (leader.go, follower.go): followers send FOLLOWERINFO
// (accepted epoch, last zxid, and a join tag drawn anew each time a
// follower starts over, which NEWEPOCH, ACKEPOCH and ACKNEWLEADER echo so
// that the leader never takes an answer of an earlier join for the
// current one), which a server that has not decided yet keeps for when it
// leads; the leader, with a quorum counting itself,
// picks an epoch above all of theirs, persists it and sends NEWEPOCH;
// followers accept it only if newer than any they accepted (or the same
// epoch from the same leader, or from a leader that says it is already
// established), persist it and answer ACKEPOCH with their current epoch and
// the last zxid of each epoch in their log. A leader that sees a newer
// history than its own steps back. With a quorum of ACKEPOCH the leader
// finds, per follower, the newest zxid both logs hold and sends NEWLEADER:
// DIFF (append), TRUNC (cut the follower's extra entries, then append) or
// SNAP (a snapshot, when that point is before the leader's log start),
// then all of its entries after that point: the first syncChunkEntriesMax
// in NEWLEADER, the rest in PROPOSALs right behind it on the same link, so
// no message is unbounded; NEWLEADER names the leader's last zxid, the end
// of the history the follower must hold before it acknowledges. Followers persist the entries
// and then the new current epoch, then ACKNEWLEADER. When a quorum, the
// leader included, holds that history durably the leader is established,
// commits its whole initial history and sends UPTODATE.
//
// Broadcast: Propose assigns the next zxid; at each Ready the leader sends
// the new entries to every follower as one PROPOSAL. Followers append,
// persist, ACK (cumulative); the leader commits the newest zxid that a
// quorum, itself included and only counting its own durable log, holds
// (cumulative COMMIT, in zxid order). PINGs every HeartbeatTicks carry the
// commit point and the last zxid sent, and are answered with an ACK, so a
// lost ACK or COMMIT only delays. A follower that sees a gap restarts
// discovery with the same leader. A follower that hears nothing from its
// leader for SyncTicks, a leader that hears from less than a quorum for
// SyncTicks, and anyone not synced after InitTicks, go back to election.
//
// # Invariants
//
//   - An epoch is acknowledged by each server for one leader only (the
//     accepted leader is persisted with the epoch), so at most one leader
//     per epoch can be established; a server joins an established leader
//     of an epoch it accepted from someone else, which cannot break this.
//   - A log that holds zxid z holds the one history that leads to z; logs
//     only lose suffixes (TRUNC, crashes before the fsync).
//   - Committed entries are durable on a quorum and are in every later
//     leader's initial history: NEWLEADER never cuts below a follower's
//     commit point (asserted).
//   - The hard state's current epoch reaches the disk no earlier than the
//     last entry of the history it names.
//   - Every queue is bounded: at most readyEntriesMax entries and
//     readyBytesMax bytes per Ready, committedMax committed entries per
//     Ready, proposalsPendingMax proposals not yet handed out (Propose then
//     fails with ErrProposalsFull), epochEndsMax epoch ends per ACKEPOCH,
//     syncChunkEntriesMax entries and about readyBytesMax bytes per sync
//     message.
//
// Broken invariants panic (assert); errors are for callers.
//
// # Cost sketch
//
// Per proposal on the leader: an append to an in-memory slice, and at the
// next Ready one message per follower carrying every entry proposed since
// the last Ready (the entries are shared, not copied). Per Ready: one disk
// write and fsync for all of its entries (group commit). Per committed
// batch: one ACK per follower and one COMMIT per follower per Ready. With
// a 1 ms fsync and 3 servers a write waits about two fsyncs and two
// network hops; throughput is set by how much the leader can batch per
// fsync, not by the core: Step and Ready are O(messages + entries), sync
// uses binary searches over the log (O(log n) per epoch end). Memory: the
// log since the newest Compact, in memory (the driver bounds it by making
// snapshots and compacting); per follower a few words of progress.
//
// # Wire format and tests
//
// codec.go encodes a Message compactly (varints and a field mask, one
// encoding per message; FuzzDecodeMessage). Tests: one per phase and
// claim in zab_test.go; message traces of whole scenarios in
// testdata/scenarios (cockroachdb/datadriven, TestScenarios); the seeded
// simulation TestSimulation (sim_test.go gives the long-campaign command);
// TestCoreIsPure keeps the imports above out of the core.
//
// # Designs not taken
//
//   - Comparing only the follower's last zxid to choose DIFF or TRUNC: a
//     follower whose last zxid is missing from the leader's log may also
//     lack entries just before it that the leader has (two epochs with
//     different uncommitted tails); cutting at the leader's previous zxid
//     would then skip entries. The follower reports each epoch's last zxid
//     instead, and within one epoch two logs agree up to the smaller end.
//   - Generating acknowledgements at Step time: with Ready's entries
//     capped, an ACK could name entries of a later Ready. Acks are made in
//     Ready from what it hands out.
package zab
