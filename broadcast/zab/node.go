package zab

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

const (
	// readyEntriesMax and readyBytesMax cap the entries one Ready asks the
	// driver to persist (one write, one fsync): a group commit. One entry
	// larger than readyBytesMax still goes, alone.
	readyEntriesMax = 1024
	readyBytesMax   = 4 << 20
	// committedMax caps the entries one Ready hands out to apply.
	committedMax = 4096
	// proposalsPendingMax bounds the entries proposed but not yet handed to
	// the driver; Propose refuses more (ErrProposalsFull) until a Ready.
	proposalsPendingMax = 4 * readyEntriesMax
	// syncChunkEntriesMax bounds the entries of one NEWLEADER or PROPOSAL
	// sent while syncing a follower (and readyBytesMax their bytes).
	syncChunkEntriesMax = readyEntriesMax
	// epochEndsMax bounds the epoch ends a follower reports in ACKEPOCH.
	// Fewer ends only make the common point older (more to send, or SNAP).
	epochEndsMax = 64
	// finalizeTicks: once a quorum agrees on its vote, a looking server
	// waits this long for a better vote before it decides (FLE's finalize
	// wait), unless every server has voted.
	finalizeTicks = 2
)

// Config creates a Node, new or restarted from what it persisted.
type Config struct {
	ID    ID
	Peers []ID // every voting server, ID included

	// ElectionTicks is the base election timeout: a looking server resends
	// its vote after a random [ElectionTicks, 2*ElectionTicks) ticks.
	ElectionTicks int
	// InitTicks bounds discovery and sync (ZooKeeper's initLimit): a leader
	// not established, or a follower not synced, by then goes back to
	// election.
	InitTicks int
	// SyncTicks (syncLimit): a follower that hears nothing from its leader
	// for this long, or a leader that hears from fewer than a quorum for
	// this long, goes back to election.
	SyncTicks int
	// HeartbeatTicks is the interval between the leader's PINGs.
	HeartbeatTicks int
	// Seed seeds the election jitter.
	Seed uint64

	// What the server persisted (zero for a new server): its hard state, the
	// zxid of its newest snapshot, its durable log entries after that
	// snapshot in zxid order, and the zxid its state machine has applied
	// (the snapshot's, after a restart).
	HardState HardState
	LogStart  Zxid
	Entries   []Entry
	Applied   Zxid

	Snapshots SnapshotSource
	// Logf, if set, receives the core's few log lines (role changes).
	Logf func(format string, args ...any)
}

// Ready is what the core needs done, in this order (see the package
// comment for the contract).
type Ready struct {
	// Snapshot, if set, replaces the state machine and the whole log.
	Snapshot *Snapshot
	// Truncate: drop the log entries after TruncateAfter.
	Truncate      bool
	TruncateAfter Zxid
	// Entries to append to the log durably.
	Entries []Entry
	// HardState, if set, to persist after Entries.
	HardState *HardState
	// Messages may be sent at once, even before the above is durable.
	Messages []Message
	// MessagesAfterPersist are sent only once everything above is durable.
	MessagesAfterPersist []Message
	// Committed entries to apply, in order, after the above is durable.
	Committed []Entry
}

// Status is a snapshot of a Node's state, for drivers and tests.
type Status struct {
	ID          ID
	State       State
	Phase       Phase
	Leader      ID
	Round       uint64
	HardState   HardState
	Epoch       Epoch // the leader's epoch while leading
	Established bool  // leading, and a quorum acknowledged NEWLEADER
	UpToDate    bool  // following, and UPTODATE received
	LogStart    Zxid
	LastZxid    Zxid
	Stable      Zxid
	Commit      Zxid
	Applied     Zxid
	// While leading: the followers that announced themselves this epoch
	// (FOLLOWERINFO), and those of them synced (NEWLEADER acknowledged)
	// and heard from within syncLimit: ZooKeeper's zk_followers and
	// zk_synced_followers.
	Followers, SyncedFollowers int
}

// progress is the leader's view of one follower.
type progress struct {
	info           bool   // FOLLOWERINFO received this epoch
	joinTag        uint64 // from that FOLLOWERINFO; its ACKEPOCH must carry it
	acceptedEpoch  Epoch
	ackedEpoch     bool // ACKEPOCH received
	last           Zxid
	committed      Zxid // its commit point (or log start)
	ends           []Zxid
	synced         bool // NEWLEADER sent: it gets proposals and commits
	ackedNewLeader bool
	match          Zxid // every entry up to match is durable there
	heardTicks     int
}

// Node is one server's Zab core. It is not safe for concurrent use.
type Node struct {
	id                                         ID
	peers                                      []ID
	electionTicks, initTicks, syncTicks, hbTks int
	rand                                       *rand.Rand
	snaps                                      SnapshotSource
	logf                                       func(string, ...any)

	hs, hsHanded, hsStable, hsInflight HardState
	pendingCurrent                     Epoch // hs.CurrentEpoch once pendingCurrentAt is handed
	pendingCurrentAt                   Zxid
	log                                zlog
	commit, applied                    Zxid

	state  State
	phase  Phase
	leader ID

	// Election.
	round         uint64
	vote          Vote
	votes         map[ID]Vote
	outOfElection map[ID]Message
	// earlyInfo holds FOLLOWERINFO that came while still looking, from
	// servers that decided for us before we did; becomeLeader takes it
	// up, so they join at once instead of on their next resend.
	earlyInfo map[ID]Message
	// joinTag names the follower's current discovery with its leader;
	// rejoin draws a new one.
	joinTag          uint64
	electionElapsed  int
	electionTimeout  int
	finalizing       bool
	finalizeElapsed  int
	phaseElapsed     int
	heardElapsed     int
	heartbeatElapsed int

	// Follower.
	newLeaderLast       Zxid
	ackNewLeaderPending bool
	ackedNewLeader      bool
	ackedTo             Zxid
	upToDate            bool

	// Leader.
	epoch          Epoch
	epochPicked    bool
	established    bool
	initialCurrent Epoch
	initialLast    Zxid
	followers      map[ID]*progress
	toBroadcast    []Entry
	sentLast       Zxid
	commitSent     Zxid

	msgs, msgsAfter []Message
	afterTo         map[ID]bool
	inflight        bool

	syncChunkEntries int // syncChunkEntriesMax; tests make it small
}

// NewNode creates a Node from cfg. It starts looking for a leader.
func NewNode(cfg Config) (*Node, error) {
	if cfg.ID == 0 || !slices.Contains(cfg.Peers, cfg.ID) {
		return nil, fmt.Errorf("%w: id %v not among peers %v", ErrBadConfig, cfg.ID, cfg.Peers)
	}
	peers := slices.Clone(cfg.Peers)
	slices.Sort(peers)
	if len(slices.Compact(peers)) != len(cfg.Peers) || peers[0] == 0 {
		return nil, fmt.Errorf("%w: peers %v", ErrBadConfig, cfg.Peers)
	}
	if cfg.ElectionTicks < 1 || cfg.InitTicks < 1 || cfg.SyncTicks < 1 || cfg.HeartbeatTicks < 1 || cfg.HeartbeatTicks >= cfg.SyncTicks {
		return nil, fmt.Errorf("%w: ticks election=%d init=%d sync=%d heartbeat=%d", ErrBadConfig,
			cfg.ElectionTicks, cfg.InitTicks, cfg.SyncTicks, cfg.HeartbeatTicks)
	}
	prev := cfg.LogStart
	for _, e := range cfg.Entries {
		if e.Zxid <= prev {
			return nil, fmt.Errorf("%w: entry %v after %v", ErrBadConfig, e.Zxid, prev)
		}
		prev = e.Zxid
	}
	if cfg.Applied < cfg.LogStart || cfg.Applied > prev {
		return nil, fmt.Errorf("%w: applied %v outside [%v, %v]", ErrBadConfig, cfg.Applied, cfg.LogStart, prev)
	}
	if cfg.HardState.CurrentEpoch > cfg.HardState.AcceptedEpoch {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, cfg.HardState)
	}
	n := &Node{
		id:            cfg.ID,
		peers:         peers,
		electionTicks: cfg.ElectionTicks,
		initTicks:     cfg.InitTicks,
		syncTicks:     cfg.SyncTicks,
		hbTks:         cfg.HeartbeatTicks,
		rand:          rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.ID))),
		snaps:         cfg.Snapshots,
		logf:          cfg.Logf,
		hs:            cfg.HardState,
		hsHanded:      cfg.HardState,
		hsStable:      cfg.HardState,
		log:           newLog(cfg.LogStart, slices.Clone(cfg.Entries)),
		commit:        cfg.Applied,
		applied:       cfg.Applied,
		afterTo:       map[ID]bool{},

		syncChunkEntries: syncChunkEntriesMax,
	}
	n.becomeLooking()
	return n, nil
}

func (n *Node) quorum() int { return len(n.peers)/2 + 1 }

func (n *Node) logEvent(format string, args ...any) {
	if n.logf != nil {
		n.logf("%v: "+format, append([]any{n.id}, args...)...)
	}
}

// send queues m. after: m may go out only once this Ready's persistence is
// done. Once one message to a peer waits, the later ones to it wait too,
// so that each link stays in order.
func (n *Node) send(m Message, after bool) {
	m.From = n.id
	if after || n.afterTo[m.To] {
		n.afterTo[m.To] = true
		n.msgsAfter = append(n.msgsAfter, m)
		return
	}
	n.msgs = append(n.msgs, m)
}

// Status reports the node's state.
func (n *Node) Status() Status {
	s := Status{
		ID: n.id, State: n.state, Phase: n.phase, Leader: n.leader, Round: n.round,
		HardState: n.hs, UpToDate: n.upToDate,
		LogStart: n.log.start, LastZxid: n.log.last(), Stable: n.log.stable,
		Commit: n.commit, Applied: n.applied,
	}
	if n.state == Leading {
		s.Epoch, s.Established = n.epoch, n.established
		for _, p := range n.followers {
			if !p.info {
				continue
			}
			s.Followers++
			if p.ackedNewLeader && p.heardTicks < n.syncTicks {
				s.SyncedFollowers++
			}
		}
	}
	return s
}

// Tick advances the node's clock by one tick.
func (n *Node) Tick() {
	switch n.state {
	case Looking:
		n.tickElection()
	case Following:
		n.tickFollower()
	case Leading:
		n.tickLeader()
	}
}

// Step feeds the node a message from a peer. Messages for another server,
// from an unknown one or out of context are dropped.
func (n *Node) Step(m Message) error {
	if m.To != n.id || m.From == n.id || !slices.Contains(n.peers, m.From) {
		return fmt.Errorf("zab: message %v not for %v or from an unknown peer", m, n.id)
	}
	if m.Type == MsgForward {
		return fmt.Errorf("zab: %v is the driver's, not the core's", m)
	}
	if m.Type == MsgVote {
		if !slices.Contains(n.peers, m.Vote.Leader) {
			return fmt.Errorf("zab: vote for unknown server in %v", m)
		}
		n.stepVote(m)
		return nil
	}
	switch n.state {
	case Looking:
		if m.Type == MsgFollowerInfo {
			n.earlyInfo[m.From] = m // the newest per server; bounded by peers
		}
	case Following:
		n.stepFollower(m)
	case Leading:
		n.stepLeader(m)
	}
	return nil
}

// Propose appends data as the next proposal. Only the established leader
// takes proposals.
func (n *Node) Propose(data []byte) (Zxid, error) {
	if n.state != Leading || !n.established {
		return 0, ErrNotLeader
	}
	if n.log.unhandedCount() >= proposalsPendingMax {
		return 0, ErrProposalsFull
	}
	last := n.log.last()
	z := MakeZxid(n.epoch, 1)
	if last.Epoch() == n.epoch {
		if last.Counter() == 1<<32-1 {
			// A new epoch restarts the counter: hand over to an election.
			n.logEvent("zxid counter exhausted in %v", n.epoch)
			n.becomeLooking()
			return 0, ErrEpochExhausted
		}
		z = last + 1
	}
	e := Entry{Zxid: z, Data: data}
	n.log.append(e)
	n.toBroadcast = append(n.toBroadcast, e)
	return z, nil
}

// Compact drops the log entries up to z from memory, once the driver holds
// a durable snapshot at z or later. z must not exceed the applied entries.
func (n *Node) Compact(z Zxid) error {
	if z <= n.log.start {
		return nil // already gone (a snapshot installed since)
	}
	if z > n.applied || z > n.log.stable {
		return fmt.Errorf("%w: %v (applied %v, stable %v)", ErrCompactAhead, z, n.applied, n.log.stable)
	}
	n.log.compact(z)
	return nil
}

// HasReady reports whether Ready has anything to hand out.
func (n *Node) HasReady() bool {
	if n.inflight {
		return false
	}
	return len(n.msgs) > 0 || len(n.msgsAfter) > 0 || n.hs != n.hsHanded || n.log.hasUnhanded() ||
		len(n.toBroadcast) > 0 || (n.state == Leading && n.commit > n.commitSent) ||
		min(n.commit, n.log.handed) > n.applied || (n.pendingCurrent != 0 && n.log.handed >= n.pendingCurrentAt)
}

// Ready hands out what the driver must do now. Call Advance when it is
// done; Ready must not be called again before that.
func (n *Node) Ready() Ready {
	assert(!n.inflight, "Ready called twice without Advance")
	var rd Ready
	if n.state == Leading {
		n.flushProposals()
		if n.commit > n.commitSent {
			for _, id := range n.peers {
				if p := n.followers[id]; p != nil && p.synced {
					n.send(Message{Type: MsgCommit, To: id, Epoch: n.epoch, Commit: n.commit}, false)
				}
			}
			n.commitSent = n.commit
		}
	}
	rd.Snapshot, rd.Truncate, rd.TruncateAfter, rd.Entries = n.log.take()
	// The new current epoch goes to disk with (or after) the last entry of
	// the history it names, never before: a server claiming epoch e's
	// history in an election must hold all of it.
	if n.pendingCurrent != 0 && n.log.handed >= n.pendingCurrentAt {
		n.hs.CurrentEpoch, n.pendingCurrent = n.pendingCurrent, 0
	}
	if n.hs != n.hsHanded {
		hs := n.hs
		rd.HardState = &hs
		n.hsHanded = hs
	}
	n.hsInflight = n.hs
	if n.state == Following && n.phase == PhaseBroadcast {
		switch {
		case n.ackNewLeaderPending && n.log.handed >= n.newLeaderLast && n.pendingCurrent == 0:
			n.ackNewLeaderPending, n.ackedNewLeader, n.ackedTo = false, true, n.log.handed
			n.send(Message{Type: MsgAckNewLeader, To: n.leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.log.handed, Round: n.joinTag}, true)
		case n.ackedNewLeader && n.log.handed > n.ackedTo:
			n.ackedTo = n.log.handed
			n.send(Message{Type: MsgAck, To: n.leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.log.handed}, true)
		}
	}
	if upto := min(n.commit, n.log.handed); upto > n.applied {
		rd.Committed = n.log.between(n.applied, upto)
		if len(rd.Committed) > committedMax {
			rd.Committed = rd.Committed[:committedMax:committedMax]
		}
		assert(len(rd.Committed) > 0 && rd.Committed[0].Zxid > n.applied, "committed entries after %v missing", n.applied)
		n.applied = rd.Committed[len(rd.Committed)-1].Zxid
	}
	rd.Messages, rd.MessagesAfterPersist = n.msgs, n.msgsAfter
	n.msgs, n.msgsAfter = nil, nil
	clear(n.afterTo)
	n.inflight = true
	return rd
}

// Advance tells the node that the last Ready was done: persisted, its
// messages sent, its committed entries applied.
func (n *Node) Advance() {
	assert(n.inflight, "Advance without Ready")
	n.inflight = false
	n.log.advance()
	n.hsStable = n.hsInflight
	if n.state == Leading {
		n.maybeEstablish()
		n.maybeCommit()
	}
}
