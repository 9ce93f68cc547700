// Package difftest is the differential test of zkd against Apache
// ZooKeeper 3.8 (the Debian package, started by tools/refzk): seeded
// random request sequences run on both servers, and every answer must
// match once normalised. It is test tooling; zkd never imports it.
//
// # How it works
//
//  1. Generate(runSeed, i) builds sequence i of a run from one seed
//     (math/rand/v2, PCG): 15..55 steps on 1..3 session slots, covering
//     every client opcode with valid and invalid inputs (missing nodes,
//     wrong versions, bad paths, bad ACLs, bad TTLs, foreign sessions'
//     watches, reconnects with setWatches, closes, pipelined batches).
//     Paths are templates: "~" is the sequence's namespace, "@ID" (or
//     "@ID.K") the path step ID (op K of a multi or batch) created, so
//     sequential names are followed on each server separately.
//  2. RunSequence runs it on one server. An admin session (super) creates
//     the namespace /dtN (its zxid is the base b) and removes it after.
//     Slots dial lazily; a broken connection is resumed with the session's
//     id and password. Every answer is normalised (Answer): zxids become
//     b+offset ("old" before the namespace), ephemeral owners the slot
//     that owns them ("S1.2": slot 1, its second session), times "now",
//     children and getEphemerals sorted, whoAmI sorted, the identities an
//     "auth" ACL entry expands to sorted, data hashed past
//     16 bytes, and the watch events that arrived before the reply kept in
//     order. The events a session close fires are sorted (ZooKeeper
//     deletes the ephemerals in HashSet order), and every other session
//     pings right after a close so they are recorded apart.
//  3. Pair.Run runs both servers at once; Compare walks the transcripts.
//     A difference is, in this order: undone by a KnownBugs Fix (a
//     stateless zkd bug that may hide under another), a deliberate
//     Divergence (DIVERGENCES.md), a KnownBugs entry (an open zkd bug), or
//     unlisted, which fails the test with the seed, the sequence index, the
//     steps with the reference's answers, both answers and zkd's last log
//     lines, after Shrink removed every step it could.
//
// # Caller's contract
//
//  1. Never send what crashes or hangs the reference: checkSafe refuses
//     createTTL with a non-TTL mode and a negative ttl, a stand-alone
//     check, and unknown watcher types or addWatch modes (RunSequence
//     panics on them). zkd's answers to those are tested against zkd alone
//     (zkdonly_test.go).
//  2. Run one sequence at a time per Target, and give every run a fresh
//     namespace (Pair does both).
//  3. Keep both servers' background deletions off: the container/TTL
//     reaper runs once an hour in the test servers, because its deletes
//     take zxids at server-chosen moments.
//  4. When a zkd bug is fixed, delete its KnownBugs entry; when a new one is
//     found, either fix zkd or add an entry with a Match narrow enough not
//     to hide other bugs. Scenarios in scenario_test.go are the minimal
//     repros; -difftest.unskip=id treats an entry as unlisted again.
//
// # Invariants checked beyond equality
//
// A successful write's reply zxid is above every zxid seen before in the
// sequence ("!write-zxid-not-increasing"); a reply body decodes with no
// bytes left over; no reply carries a stray xid.
//
// # Cost
//
// One JVM (about 1-2 s to start) and one in-process zkd per test function.
// A sequence costs about 35 round trips per server, both servers in
// parallel: about 25 ms, so the default 600 sequences take about 20 s
// (2 cores). Shrinking replays a sequence once per removable step, for at
// most ShrinkBudget per reported difference.
package difftest
