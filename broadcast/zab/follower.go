package zab

// The follower's side. A follower tells its prospective leader its accepted
// epoch and history (FOLLOWERINFO), accepts the new epoch if it is newer
// than any it accepted, or the same one from the same leader (ACKEPOCH,
// after persisting it), takes the leader's history from NEWLEADER (after
// persisting it and the new current epoch, ACKNEWLEADER), then accepts
// proposals in zxid order (ACK after persisting) and commits.
//
// Links are FIFO but may break and lose what was in flight. A follower
// that sees a gap (a PROPOSAL that does not follow its log, or a PING
// naming a zxid it never got) starts over with the same leader from
// FOLLOWERINFO; acks and commits are cumulative and repeated by PINGs, so
// losing one only delays.

func (n *Node) becomeFollower(leader ID) {
	n.state, n.leader = Following, leader
	n.logEvent("following %v round %d", leader, n.round)
	n.rejoin()
}

// rejoin (re)starts discovery with the current leader.
func (n *Node) rejoin() {
	n.resetRoleState()
	n.phase = PhaseDiscovery
	// Random rather than counted: a restarted server must not reuse the
	// tag of a join whose messages may still be on their way. Never 0,
	// which the codec sends as absent.
	n.joinTag = n.rand.Uint64() | 1
	n.send(Message{Type: MsgFollowerInfo, To: n.leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.log.last(), Round: n.joinTag}, false)
}

func (n *Node) tickFollower() {
	n.phaseElapsed++
	n.heardElapsed++
	if n.phase != PhaseBroadcast && n.phaseElapsed >= n.initTicks {
		n.logEvent("no sync with %v after %d ticks", n.leader, n.phaseElapsed)
		n.becomeLooking()
		return
	}
	if n.phase == PhaseDiscovery && n.phaseElapsed%(2*n.hbTks) == 0 {
		// FOLLOWERINFO may have reached the leader before it finished its
		// own election (and was dropped there): say it again until
		// NEWEPOCH comes, rather than wait out InitTicks.
		n.send(Message{Type: MsgFollowerInfo, To: n.leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.log.last(), Round: n.joinTag}, false)
	}
	if n.phase == PhaseBroadcast && n.heardElapsed >= n.syncTicks {
		n.logEvent("lost leader %v", n.leader)
		n.becomeLooking()
	}
}

func (n *Node) stepFollower(m Message) {
	if m.From != n.leader {
		return
	}
	n.heardElapsed = 0
	if m.Type == MsgNewEpoch {
		if m.Round != 0 && m.Round != n.joinTag {
			// The answer to an earlier join; ours is on its way. (0: a
			// leader built before join tags, which echoes none.)
			return
		}
		// An epoch is acked for one leader only, so two leaders never both
		// gather a quorum for it; except that once one is established (a
		// quorum acked NEWLEADER without such an exception) no other can
		// ever be, so a server that acked the epoch for a candidate that
		// failed may join the winner.
		if m.Epoch > n.hs.AcceptedEpoch || m.Epoch == n.hs.AcceptedEpoch && (n.hs.AcceptedLeader == m.From || m.Established) {
			n.resetRoleState()
			n.phase = PhaseSync
			// Persisted before ACKEPOCH leaves (MessagesAfterPersist): the
			// promise not to follow an older epoch must survive a crash.
			// Commit is a point the leader surely holds too (it is
			// committed), so the sync point is never below what we
			// applied.
			n.hs.AcceptedEpoch, n.hs.AcceptedLeader = m.Epoch, m.From
			n.send(Message{
				Type: MsgAckEpoch, To: m.From, Epoch: m.Epoch, CurrentEpoch: n.hs.CurrentEpoch,
				Zxid: n.log.last(), Commit: max(n.commit, n.log.start), Zxids: n.log.epochEnds(epochEndsMax), Round: n.joinTag,
			}, true)
		} else {
			n.logEvent("refused epoch %v from %v (accepted %v)", m.Epoch, m.From, n.hs)
			n.becomeLooking()
		}
		return
	}
	if n.phase < PhaseSync || m.Epoch != n.hs.AcceptedEpoch {
		return
	}
	switch m.Type {
	case MsgNewLeader:
		if n.phase != PhaseSync {
			return
		}
		n.stepNewLeader(m)
	case MsgProposal:
		if n.phase != PhaseBroadcast {
			return
		}
		if m.Zxid != n.log.last() {
			n.logEvent("gap: proposal after %v, log ends at %v", m.Zxid, n.log.last())
			n.rejoin()
			return
		}
		n.log.append(m.Entries...)
	case MsgUpToDate:
		if n.phase == PhaseBroadcast {
			n.upToDate = true
			n.advanceCommit(m.Commit)
		}
	case MsgCommit:
		if n.phase == PhaseBroadcast {
			n.advanceCommit(m.Commit)
		}
	case MsgPing:
		if n.phase != PhaseBroadcast {
			// The leader pings only servers it sent NEWLEADER to, and the
			// link is FIFO: ours was lost with a broken link.
			n.logEvent("ping before NEWLEADER")
			n.rejoin()
			return
		}
		if m.Zxid > n.log.last() {
			n.logEvent("gap: leader sent up to %v, log ends at %v", m.Zxid, n.log.last())
			n.rejoin()
			return
		}
		n.advanceCommit(m.Commit)
		if n.ackedNewLeader {
			n.send(Message{Type: MsgAck, To: n.leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.log.stable}, false)
		}
	}
}

func (n *Node) stepNewLeader(m Message) {
	if m.Sync == SyncSnap {
		assert(m.Snapshot != nil && m.Snapshot.Zxid == m.Zxid, "SNAP without its snapshot: %v", m)
		assert(m.Zxid >= n.applied, "snapshot %v older than applied %v", m.Zxid, n.applied)
		n.log.install(*m.Snapshot)
		n.applied = m.Zxid
		n.commit = max(n.commit, m.Zxid)
	} else {
		if m.Zxid < n.log.start || m.Zxid > n.log.last() {
			// Our log moved (a compaction) since ACKEPOCH: start over.
			n.logEvent("NEWLEADER point %v outside log %v..%v", m.Zxid, n.log.start, n.log.last())
			n.rejoin()
			return
		}
		// Committed entries are in every later leader's history, so the
		// common point is never below them.
		assert(m.Zxid >= n.commit, "NEWLEADER cuts after %v below commit %v", m.Zxid, n.commit)
		if m.Zxid < n.log.last() {
			n.log.truncateAfter(m.Zxid)
		}
	}
	n.log.append(m.Entries...)
	// The rest of the leader's history follows as PROPOSALs (phase
	// broadcast takes them). The current epoch is persisted with the last
	// entry of that history, and ACKNEWLEADER leaves after both (Ready).
	n.phase = PhaseBroadcast
	last := max(m.Last, n.log.last())
	n.newLeaderLast, n.ackNewLeaderPending = last, true
	n.pendingCurrent, n.pendingCurrentAt = m.Epoch, last
}

func (n *Node) advanceCommit(c Zxid) {
	c = min(c, n.log.last())
	if c > n.commit {
		n.commit = c
	}
}
