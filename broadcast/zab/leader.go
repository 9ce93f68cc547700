package zab

import (
	"math"
	"slices"
)

// The leader's side of discovery, sync and broadcast.
//
// Discovery: collect FOLLOWERINFO (accepted epoch, last zxid) from a quorum
// counting itself, pick an epoch above every accepted epoch among them,
// persist it as accepted, then send NEWEPOCH. Followers persist it too and
// answer ACKEPOCH with their current epoch and history; if one of them has
// a newer history than the leader's (by current epoch, then last zxid),
// election went wrong and the leader goes back to it.
//
// Sync: once a quorum acked the epoch, the leader persists it as current
// and sends each of them NEWLEADER: the point its log and the follower's
// agree up to (DIFF, or TRUNC when the follower has more), or a snapshot
// (SNAP) when that point is before the start of the leader's log, followed
// by the leader's entries. Followers that come later get the same. Once a
// quorum, the leader included, holds NEWLEADER's history durably under the
// new current epoch, the leader is established: its whole initial history
// is committed, UPTODATE goes out and proposals are taken.

func (n *Node) becomeLeader() {
	n.state, n.phase, n.leader = Leading, PhaseDiscovery, n.id
	n.resetRoleState()
	n.followers = map[ID]*progress{}
	n.initialCurrent, n.initialLast = n.hs.CurrentEpoch, n.log.last()
	n.sentLast, n.commitSent = n.log.last(), n.commit
	n.logEvent("leading round %d, history %v/%v", n.round, n.initialCurrent, n.initialLast)
	// As if it arrived now: a FOLLOWERINFO is only ever a (possibly
	// delayed) statement of the sender's accepted epoch and history, which
	// discovery must take at any delay anyway.
	for _, id := range n.peers {
		if m, ok := n.earlyInfo[id]; ok {
			n.followers[id] = &progress{info: true, acceptedEpoch: m.Epoch, last: m.Zxid, joinTag: m.Round}
		}
	}
	n.earlyInfo = nil
	n.maybePickEpoch()
}

func (n *Node) tickLeader() {
	n.phaseElapsed++
	live := 1
	for id, p := range n.followers {
		p.heardTicks++
		if p.heardTicks >= 2*n.syncTicks {
			delete(n.followers, id)
			continue
		}
		if p.ackedNewLeader && p.heardTicks < n.syncTicks {
			live++
		}
	}
	if !n.established && n.phaseElapsed >= n.initTicks {
		n.logEvent("not established after %d ticks", n.phaseElapsed)
		n.becomeLooking()
		return
	}
	if n.established && live < n.quorum() {
		n.logEvent("lost quorum (%d live)", live)
		n.becomeLooking()
		return
	}
	// Followers that took NEWLEADER hear from us while the others catch
	// up, or they would give up before UPTODATE.
	n.heartbeatElapsed++
	if n.heartbeatElapsed >= n.hbTks {
		n.heartbeatElapsed = 0
		n.flushProposals()
		for _, id := range n.peers {
			if p := n.followers[id]; p != nil && p.synced {
				n.send(Message{Type: MsgPing, To: id, Epoch: n.epoch, Commit: n.commit, Zxid: n.sentLast}, false)
			}
		}
	}
}

func (n *Node) stepLeader(m Message) {
	p := n.followers[m.From]
	if m.Type == MsgFollowerInfo {
		// A new follower, or one that lost its place: start over with it.
		p = &progress{info: true, acceptedEpoch: m.Epoch, last: m.Zxid, joinTag: m.Round}
		n.followers[m.From] = p
		if !n.epochPicked {
			n.maybePickEpoch()
		} else {
			n.send(Message{Type: MsgNewEpoch, To: m.From, Epoch: n.epoch, Established: n.established, Round: p.joinTag}, true)
		}
		return
	}
	if p == nil || !n.epochPicked || m.Epoch != n.epoch {
		return
	}
	p.heardTicks = 0
	switch m.Type {
	case MsgAckEpoch:
		if !p.info || p.ackedEpoch || m.Round != p.joinTag {
			return
		}
		if !n.established && (m.CurrentEpoch > n.initialCurrent || m.CurrentEpoch == n.initialCurrent && m.Zxid > n.initialLast) {
			n.logEvent("%v has a newer history %v/%v than ours %v/%v", m.From, m.CurrentEpoch, m.Zxid, n.initialCurrent, n.initialLast)
			n.becomeLooking()
			return
		}
		p.ackedEpoch, p.last, p.committed, p.ends = true, m.Zxid, m.Commit, m.Zxids
		if n.phase == PhaseDiscovery {
			n.maybeStartSync()
		} else {
			n.syncFollower(m.From, p)
		}
	case MsgAckNewLeader:
		if !p.synced || p.ackedNewLeader || m.Round != p.joinTag {
			return
		}
		p.ackedNewLeader, p.match = true, m.Zxid
		if n.established {
			n.send(Message{Type: MsgUpToDate, To: m.From, Epoch: n.epoch, Commit: n.commit}, false)
			n.maybeCommit()
		} else {
			n.maybeEstablish()
		}
	case MsgAck:
		if p.ackedNewLeader && m.Zxid > p.match {
			p.match = m.Zxid
			n.maybeCommit()
		}
	}
}

// maybePickEpoch picks the new epoch once a quorum told its accepted epoch.
func (n *Node) maybePickEpoch() {
	count, e := 1, n.hs.AcceptedEpoch
	for _, p := range n.followers {
		if p.info {
			count++
			e = max(e, p.acceptedEpoch)
		}
	}
	if count < n.quorum() {
		return
	}
	assert(e < math.MaxUint32, "epochs exhausted")
	n.epoch, n.epochPicked = e+1, true
	// Persisted before NEWEPOCH leaves: a restarted leader must not offer
	// the same epoch again with another history.
	n.hs.AcceptedEpoch, n.hs.AcceptedLeader = n.epoch, n.id
	n.logEvent("epoch %v", n.epoch)
	for _, id := range n.peers {
		if p := n.followers[id]; p != nil && p.info {
			n.send(Message{Type: MsgNewEpoch, To: id, Epoch: n.epoch, Round: p.joinTag}, true)
		}
	}
	n.maybeStartSync()
}

// maybeStartSync sends NEWLEADER once a quorum acked the epoch.
func (n *Node) maybeStartSync() {
	count := 1
	for _, p := range n.followers {
		if p.ackedEpoch {
			count++
		}
	}
	if count < n.quorum() {
		return
	}
	n.phase = PhaseSync
	n.pendingCurrent, n.pendingCurrentAt = n.epoch, n.initialLast
	for _, id := range n.peers {
		if p := n.followers[id]; p != nil && p.ackedEpoch {
			n.syncFollower(id, p)
		}
	}
	n.maybeEstablish()
}

// syncFollower sends NEWLEADER to a follower that acked the epoch.
func (n *Node) syncFollower(id ID, p *progress) {
	// Proposals made so far go to the followers already in sync first;
	// this one gets them inside NEWLEADER.
	n.flushProposals()
	m := Message{Type: MsgNewLeader, To: id, Epoch: n.epoch}
	c := n.log.commonPoint(p.committed, p.ends)
	switch {
	case c < n.log.start:
		if n.snaps == nil {
			n.logEvent("%v needs a snapshot and there is no source", id)
			return
		}
		s, err := n.snaps.Snapshot()
		if err != nil || s.Zxid < n.log.start || s.Zxid > n.log.last() {
			n.logEvent("no snapshot for %v (%v, zxid %v, log %v..%v)", id, err, s.Zxid, n.log.start, n.log.last())
			return
		}
		m.Sync, m.Snapshot, m.Zxid = SyncSnap, &s, s.Zxid
	case c < p.last:
		m.Sync, m.Zxid = SyncTrunc, c
	default:
		m.Sync, m.Zxid = SyncDiff, c
	}
	// NEWLEADER carries the first chunk; PROPOSALs, which the follower
	// takes once NEWLEADER is in, the rest, so no message is unbounded.
	es := n.log.after(m.Zxid)
	m.Last = n.log.last()
	m.Entries, es = n.chunk(es)
	p.synced, p.ackedNewLeader, p.match = true, false, 0
	n.send(m, true)
	prev := m.Zxid
	if len(m.Entries) > 0 {
		prev = m.Entries[len(m.Entries)-1].Zxid
	}
	for len(es) > 0 {
		var c []Entry
		c, es = n.chunk(es)
		n.send(Message{Type: MsgProposal, To: id, Epoch: n.epoch, Zxid: prev, Entries: c}, true)
		prev = c[len(c)-1].Zxid
	}
}

// chunk splits off up to syncChunkEntries entries or readyBytesMax bytes
// (at least one entry).
func (n *Node) chunk(es []Entry) (first, rest []Entry) {
	j, bytes := 0, 0
	for j < len(es) && j < n.syncChunkEntries {
		bytes += len(es[j].Data)
		if j > 0 && bytes > readyBytesMax {
			break
		}
		j++
	}
	return es[:j:j], es[j:]
}

// maybeEstablish ends sync once a quorum, the leader included, acked
// NEWLEADER durably.
func (n *Node) maybeEstablish() {
	if n.phase != PhaseSync {
		return
	}
	count := 0
	if n.hsStable.CurrentEpoch == n.epoch && n.log.stable >= n.initialLast {
		count++
	}
	for _, p := range n.followers {
		if p.ackedNewLeader {
			count++
		}
	}
	if count < n.quorum() {
		return
	}
	n.established, n.phase = true, PhaseBroadcast
	n.logEvent("established epoch %v", n.epoch)
	n.maybeCommit()
	for _, id := range n.peers {
		if p := n.followers[id]; p != nil && p.ackedNewLeader {
			n.send(Message{Type: MsgUpToDate, To: id, Epoch: n.epoch, Commit: n.commit}, false)
		}
	}
}

// maybeCommit commits up to the newest zxid a quorum holds durably, the
// leader's own durable log among them.
func (n *Node) maybeCommit() {
	if !n.established {
		return
	}
	held := []Zxid{n.log.stable}
	for _, p := range n.followers {
		if p.ackedNewLeader {
			held = append(held, p.match)
		}
	}
	if len(held) < n.quorum() {
		return
	}
	slices.Sort(held)
	q := min(held[len(held)-n.quorum()], n.log.stable)
	if q > n.commit {
		n.commit = q
	}
}

// flushProposals sends the entries proposed since the last flush to every
// follower in sync, as one PROPOSAL.
func (n *Node) flushProposals() {
	if len(n.toBroadcast) == 0 {
		return
	}
	es := n.toBroadcast
	for _, id := range n.peers {
		if p := n.followers[id]; p != nil && p.synced {
			n.send(Message{Type: MsgProposal, To: id, Epoch: n.epoch, Zxid: n.sentLast, Entries: es}, false)
		}
	}
	n.sentLast = es[len(es)-1].Zxid
	n.toBroadcast = nil
}
