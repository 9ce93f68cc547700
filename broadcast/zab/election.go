package zab

// Leader election, after ZooKeeper's Fast Leader Election: every looking
// server votes for the best server it has heard of, ordered by (current
// epoch, last zxid, id), and tells everyone whenever its vote changes.
// Rounds (FLE's logical clock) separate elections: a vote from a newer
// round restarts the count, one from an older round is answered with ours.
// A server decides when a quorum of its round agrees with its vote (after a
// short wait for a better one), or when a quorum of servers that already
// decided name one leader that says it leads.
//
// Election only picks who tries to lead: safety rests on discovery, where a
// quorum must accept the new epoch and the leader steps back if one of them
// has a newer history.

func (n *Node) selfVote() Vote {
	return Vote{Leader: n.id, Zxid: n.log.last(), PeerEpoch: n.hs.CurrentEpoch}
}

func (n *Node) resetElectionTimeout() {
	n.electionElapsed = 0
	n.electionTimeout = n.electionTicks + n.rand.IntN(n.electionTicks)
}

// becomeLooking starts a new election round.
func (n *Node) becomeLooking() {
	if n.state != Looking {
		n.logEvent("looking (was %v of %v)", n.state, n.leader)
	}
	n.state, n.phase, n.leader = Looking, PhaseElection, 0
	n.resetRoleState()
	n.round++
	n.vote = n.selfVote()
	n.votes = map[ID]Vote{n.id: n.vote}
	n.outOfElection = map[ID]Message{}
	n.earlyInfo = map[ID]Message{}
	n.finalizing = false
	n.resetElectionTimeout()
	n.broadcastVote()
	if n.quorum() == 1 {
		n.decide(n.id)
	}
}

// resetRoleState forgets everything about the previous leader or
// followers; the log and the hard state stay.
func (n *Node) resetRoleState() {
	n.phaseElapsed, n.heardElapsed, n.heartbeatElapsed = 0, 0, 0
	n.newLeaderLast, n.ackNewLeaderPending, n.ackedNewLeader, n.ackedTo, n.upToDate = 0, false, false, 0, false
	n.epoch, n.epochPicked, n.established = 0, false, false
	n.pendingCurrent, n.pendingCurrentAt = 0, 0
	n.followers, n.toBroadcast = nil, nil
}

func (n *Node) broadcastVote() {
	for _, id := range n.peers {
		if id != n.id {
			n.sendNotification(id)
		}
	}
}

func (n *Node) sendNotification(to ID) {
	n.send(Message{Type: MsgVote, To: to, Round: n.round, State: n.state, Vote: n.vote}, false)
}

func (n *Node) tickElection() {
	n.electionElapsed++
	if n.finalizing {
		n.finalizeElapsed++
		if n.finalizeElapsed >= finalizeTicks {
			n.decide(n.vote.Leader)
			return
		}
	}
	if n.electionElapsed >= n.electionTimeout {
		// Votes may have been lost with a broken link: say it again.
		n.resetElectionTimeout()
		n.broadcastVote()
	}
}

func (n *Node) stepVote(m Message) {
	if n.state != Looking {
		if m.State == Looking {
			n.sendNotification(m.From)
		}
		return
	}
	if m.State == Looking {
		switch {
		case m.Round > n.round:
			n.round = m.Round
			n.vote = n.selfVote()
			if m.Vote.betterThan(n.vote) {
				n.vote = m.Vote
			}
			n.votes = map[ID]Vote{n.id: n.vote}
			n.finalizing = false
			n.broadcastVote()
		case m.Round < n.round:
			n.sendNotification(m.From)
			return
		case m.Vote.betterThan(n.vote):
			n.vote = m.Vote
			n.votes[n.id] = n.vote
			n.finalizing = false
			n.broadcastVote()
		}
		n.votes[m.From] = m.Vote
		n.checkVotes()
		return
	}
	// m.From has decided already.
	if m.Round == n.round {
		n.votes[m.From] = m.Vote
	}
	n.outOfElection[m.From] = m
	if l := m.Vote.Leader; l != n.id {
		lm, ok := n.outOfElection[l]
		if ok && lm.State == Leading && n.countFor(n.outOfElection, l) >= n.quorum() {
			n.round = lm.Round
			n.vote = lm.Vote
			n.decide(l)
			return
		}
	}
	n.checkVotes()
}

func (n *Node) countFor(ms map[ID]Message, leader ID) int {
	c := 0
	for _, m := range ms {
		if m.Vote.Leader == leader {
			c++
		}
	}
	return c
}

// checkVotes decides, or starts the finalize wait, when a quorum of this
// round agrees with our vote.
func (n *Node) checkVotes() {
	agree := 0
	for _, v := range n.votes {
		if v == n.vote {
			agree++
		}
	}
	switch {
	case agree < n.quorum():
		n.finalizing = false
	case agree == len(n.peers):
		n.decide(n.vote.Leader)
	case !n.finalizing:
		n.finalizing, n.finalizeElapsed = true, 0
	}
}

func (n *Node) decide(leader ID) {
	n.finalizing = false
	n.logEvent("round %d decided for %v", n.round, leader)
	if leader == n.id {
		n.becomeLeader()
	} else {
		n.becomeFollower(leader)
	}
}
