package zab

import (
	"errors"
	"fmt"
)

// Epoch is a Zab epoch: the number of the leader's reign. A zxid carries
// it in its high 32 bits.
type Epoch uint32

func (e Epoch) String() string { return fmt.Sprintf("e%d", uint32(e)) }

// Zxid is a transaction id: epoch<<32 | counter. Zxids order a history:
// within an epoch by counter, across epochs by epoch. Zxid 0 is "nothing".
type Zxid uint64

// MakeZxid builds the zxid of the counter'th proposal of epoch e.
func MakeZxid(e Epoch, counter uint32) Zxid { return Zxid(uint64(e)<<32 | uint64(counter)) }

// Epoch is the epoch of the leader that proposed z.
func (z Zxid) Epoch() Epoch { return Epoch(z >> 32) }

// Counter is z's position within its epoch, from 1.
func (z Zxid) Counter() uint32 { return uint32(z) }

func (z Zxid) String() string { return fmt.Sprintf("%d.%d", uint32(z>>32), uint32(z)) }

// ID names a server of the ensemble (ZooKeeper's myid). 0 is "none".
type ID uint64

func (id ID) String() string { return fmt.Sprintf("s%d", uint64(id)) }

// Entry is one proposal: a zxid and opaque bytes the core never decodes
// (the driver puts an encoded batch of transactions there).
type Entry struct {
	Zxid Zxid
	Data []byte
}

// HardState is what a server must persist about epochs. AcceptedEpoch is
// the newest epoch it promised to follow (NEWEPOCH acknowledged) and
// AcceptedLeader the server that proposed it: a server acknowledges an
// epoch for one leader only, so two leaders can never both gather a
// quorum for one epoch, even across restarts. CurrentEpoch is the epoch
// of the newest NEWLEADER it acknowledged: its history is that leader's.
type HardState struct {
	AcceptedEpoch  Epoch
	AcceptedLeader ID
	CurrentEpoch   Epoch
}

func (h HardState) String() string {
	return fmt.Sprintf("accepted=%v/%v current=%v", h.AcceptedEpoch, h.AcceptedLeader, h.CurrentEpoch)
}

// Snapshot is the state machine's state after applying every committed
// entry up to and including Zxid. Data is opaque to the core.
type Snapshot struct {
	Zxid Zxid
	Data []byte
}

// SnapshotSource gives the leader a snapshot to send to a follower that is
// behind the start of the leader's log (SNAP). The driver returns the
// newest snapshot it already has; the core needs its Zxid to be at least
// the log start it was given by Compact (or at restart), and never above
// the entries the state machine applied.
type SnapshotSource interface {
	Snapshot() (Snapshot, error)
}

// State is a server's role.
type State uint8

const (
	Looking State = iota
	Following
	Leading
)

func (s State) String() string {
	switch s {
	case Looking:
		return "looking"
	case Following:
		return "following"
	case Leading:
		return "leading"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Phase is where a follower or leader is in Zab: discovery (agree on a new
// epoch), sync (bring the follower to the leader's history) and broadcast.
type Phase uint8

const (
	PhaseElection Phase = iota
	PhaseDiscovery
	PhaseSync
	PhaseBroadcast
)

func (p Phase) String() string {
	switch p {
	case PhaseElection:
		return "election"
	case PhaseDiscovery:
		return "discovery"
	case PhaseSync:
		return "sync"
	case PhaseBroadcast:
		return "broadcast"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// SyncKind says how NEWLEADER brings a follower to the leader's history.
type SyncKind uint8

const (
	// SyncDiff: the follower's log is a prefix of the leader's; append.
	SyncDiff SyncKind = iota + 1
	// SyncTrunc: drop the follower's entries after Message.Zxid, then append.
	SyncTrunc
	// SyncSnap: replace everything with Message.Snapshot, then append.
	SyncSnap
)

func (k SyncKind) String() string {
	switch k {
	case SyncDiff:
		return "DIFF"
	case SyncTrunc:
		return "TRUNC"
	case SyncSnap:
		return "SNAP"
	}
	return fmt.Sprintf("sync(%d)", uint8(k))
}

// Vote is a Fast-Leader-Election ballot: who should lead and how recent its
// history is. Votes order by (PeerEpoch, Zxid, Leader).
type Vote struct {
	Leader    ID
	Zxid      Zxid
	PeerEpoch Epoch
}

func (v Vote) String() string { return fmt.Sprintf("%v@%v/%v", v.Leader, v.PeerEpoch, v.Zxid) }

// betterThan reports whether v beats w.
func (v Vote) betterThan(w Vote) bool {
	if v.PeerEpoch != w.PeerEpoch {
		return v.PeerEpoch > w.PeerEpoch
	}
	if v.Zxid != w.Zxid {
		return v.Zxid > w.Zxid
	}
	return v.Leader > w.Leader
}

// MsgType names a peer message.
type MsgType uint8

const (
	// MsgVote (election): Round, State, Vote.
	MsgVote MsgType = iota + 1
	// MsgFollowerInfo (discovery, follower → leader): Epoch = acceptedEpoch,
	// Zxid = last zxid, Round = the follower's join tag (a new one each
	// time it starts discovery over).
	MsgFollowerInfo
	// MsgNewEpoch (discovery, leader → follower): Epoch = the new epoch,
	// Established = a quorum already acknowledged NEWLEADER for it, Round =
	// the join tag of the FOLLOWERINFO it answers.
	MsgNewEpoch
	// MsgAckEpoch (discovery, follower → leader): Epoch = the epoch acked,
	// CurrentEpoch, Zxid = last zxid, Zxids = the last zxid of each epoch in
	// its log (ascending), Commit = its commit point (at least its log start),
	// Round = the join tag. The tag lets the leader drop an ACKEPOCH of an
	// earlier join: it leaves after a persist, so a later FOLLOWERINFO can
	// overtake it, and a sync computed from it would describe a log the
	// follower no longer has.
	MsgAckEpoch
	// MsgNewLeader (sync, leader → follower): Epoch, Sync, Zxid = the point
	// the follower's log is cut after (DIFF/TRUNC) or Snapshot, then Entries,
	// Last = the leader's last zxid: the entries up to it that did not fit
	// follow as PROPOSALs.
	MsgNewLeader
	// MsgAckNewLeader (sync, follower → leader): Epoch, Zxid = the last
	// zxid it now holds durably, Round = the join tag.
	MsgAckNewLeader
	// MsgUpToDate (leader → follower): Epoch, Commit. The follower serves.
	MsgUpToDate
	// MsgProposal (broadcast): Epoch, Zxid = the zxid before Entries, Entries.
	MsgProposal
	// MsgAck (broadcast): Epoch, Zxid = every entry up to it is durable.
	MsgAck
	// MsgCommit (broadcast): Epoch, Commit = every entry up to it is committed.
	MsgCommit
	// MsgPing (leader → follower): Epoch, Commit, Zxid = the last zxid the
	// leader has sent on this link. The follower answers with MsgAck.
	MsgPing
	// MsgForward (server → server): the driver's own traffic on the peer
	// links, such as a follower forwarding client requests to its leader;
	// Entries carry opaque payloads. The core does not use it: Step drops
	// it, so a driver takes it out of the stream before Step.
	MsgForward
	msgTypeEnd
)

var msgTypeNames = [...]string{
	MsgVote:         "VOTE",
	MsgFollowerInfo: "FOLLOWERINFO",
	MsgNewEpoch:     "NEWEPOCH",
	MsgAckEpoch:     "ACKEPOCH",
	MsgNewLeader:    "NEWLEADER",
	MsgAckNewLeader: "ACKNEWLEADER",
	MsgUpToDate:     "UPTODATE",
	MsgProposal:     "PROPOSAL",
	MsgAck:          "ACK",
	MsgCommit:       "COMMIT",
	MsgPing:         "PING",
	MsgForward:      "FORWARD",
}

func (t MsgType) String() string {
	if t > 0 && t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("msg(%d)", uint8(t))
}

// Message is one peer message. Which fields mean something depends on
// Type (see the MsgType constants); the others are zero.
type Message struct {
	Type     MsgType
	From, To ID

	// Election.
	Round uint64
	State State
	Vote  Vote

	Epoch        Epoch
	Established  bool
	CurrentEpoch Epoch
	Zxid         Zxid
	Commit       Zxid
	Last         Zxid
	Zxids        []Zxid
	Sync         SyncKind
	Snapshot     *Snapshot
	Entries      []Entry
}

func (m Message) String() string {
	s := fmt.Sprintf("%v->%v %v", m.From, m.To, m.Type)
	switch m.Type {
	case MsgVote:
		return s + fmt.Sprintf(" round=%d %v vote=%v", m.Round, m.State, m.Vote)
	case MsgFollowerInfo:
		return s + fmt.Sprintf(" accepted=%v last=%v", m.Epoch, m.Zxid)
	case MsgNewEpoch:
		return s + fmt.Sprintf(" epoch=%v established=%v", m.Epoch, m.Established)
	case MsgAckEpoch:
		return s + fmt.Sprintf(" epoch=%v current=%v last=%v commit=%v ends=%v", m.Epoch, m.CurrentEpoch, m.Zxid, m.Commit, m.Zxids)
	case MsgNewLeader:
		s += fmt.Sprintf(" epoch=%v %v after=%v last=%v", m.Epoch, m.Sync, m.Zxid, m.Last)
		if m.Snapshot != nil {
			s += fmt.Sprintf(" snap=%v", m.Snapshot.Zxid)
		}
		return s + entriesString(m.Entries)
	case MsgAckNewLeader, MsgAck:
		return s + fmt.Sprintf(" epoch=%v zxid=%v", m.Epoch, m.Zxid)
	case MsgUpToDate, MsgCommit:
		return s + fmt.Sprintf(" epoch=%v commit=%v", m.Epoch, m.Commit)
	case MsgProposal:
		return s + fmt.Sprintf(" epoch=%v prev=%v", m.Epoch, m.Zxid) + entriesString(m.Entries)
	case MsgPing:
		return s + fmt.Sprintf(" epoch=%v commit=%v last=%v", m.Epoch, m.Commit, m.Zxid)
	}
	return s
}

func entriesString(es []Entry) string {
	switch len(es) {
	case 0:
		return " entries=[]"
	case 1:
		return fmt.Sprintf(" entries=[%v]", es[0].Zxid)
	}
	return fmt.Sprintf(" entries=[%v..%v](%d)", es[0].Zxid, es[len(es)-1].Zxid, len(es))
}

// Errors returned by Propose, Step, Compact and NewNode.
var (
	ErrNotLeader      = errors.New("zab: not the established leader")
	ErrProposalsFull  = errors.New("zab: too many proposals waiting to be persisted")
	ErrEpochExhausted = errors.New("zab: zxid counter exhausted for this epoch")
	ErrCompactAhead   = errors.New("zab: compaction beyond the applied entries")
	ErrBadConfig      = errors.New("zab: bad config")
)

// assert panics with msg when cond is false: a broken invariant is a bug,
// never an operating error.
func assert(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("zab: invariant broken: "+format, args...))
	}
}
