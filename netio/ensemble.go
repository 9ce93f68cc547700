package netio

import (
	"math"
	"sync/atomic"

	"zkd/broadcast"
	"zkd/netio/jute"
	"zkd/tree"
)

// The server as broadcast.Ensemble's Host. These run on the ensemble's
// loop goroutine, the tree's only writer.

// Restore replaces the tree with a leader's snapshot. The server is not
// serving meanwhile (its clients were dropped), so only the sessions need
// rebuilding.
func (srv *Server) Restore(t *tree.Tree) {
	srv.treeMu.Lock()
	t.Watches = srv.tree.Watches // watchers belong to connections, not to data
	t.AddDigestMismatches(srv.tree.DigestMismatches())
	srv.tree = t
	srv.treeMu.Unlock()
	now := srv.clock.UnixNano()
	for _, s := range srv.sessions.all() {
		if s.owner() == nil {
			srv.sessions.remove(s.id)
		}
	}
	for id, timeout := range t.Sessions() {
		if srv.sessions.get(id) == nil {
			s := newSession(id, timeout)
			s.created.Store(true)
			s.touch(now)
			srv.sessions.put(s)
		}
	}
}

// ReadTree runs f under the tree's read lock (a snapshot being encoded).
func (srv *Server) ReadTree(f func()) {
	srv.treeMu.RLock()
	defer srv.treeMu.RUnlock()
	f()
}

// TouchSessions gives sessions a fresh timeout (nil: all of them).
func (srv *Server) TouchSessions(ids []int64) {
	now := srv.clock.UnixNano()
	if ids == nil {
		for _, s := range srv.sessions.all() {
			s.touch(now)
		}
		return
	}
	for _, id := range ids {
		if s := srv.sessions.get(id); s != nil {
			s.touch(now)
		}
	}
}

// ActiveSessions appends the sessions that a connection to this server
// holds and whose client was heard from within the timeout.
func (srv *Server) ActiveSessions(buf []int64) []int64 {
	now := srv.clock.UnixNano()
	for _, s := range srv.sessions.all() {
		if s.created.Load() && s.owner() != nil && s.deadline.Load() > now {
			buf = append(buf, s.id)
		}
	}
	return buf
}

// RoleChanged drops every client when the server stops serving or its
// leader changes: what they had in flight may be lost, and ZooKeeper's
// clients expect to reconnect then.
func (srv *Server) RoleChanged(r broadcast.Role) {
	srv.roleMu.Lock()
	old := srv.role
	srv.role = r
	srv.roleMu.Unlock()
	if r.Serving && old.Serving && r.LeaderID == old.LeaderID && r.Epoch == old.Epoch {
		return
	}
	for _, c := range srv.connList() {
		_ = c.gc.Close()
	}
}

// serving reports whether the server takes clients: always standalone,
// in an ensemble while it has an established leader.
func (srv *Server) serving() bool {
	if srv.ens == nil {
		return true
	}
	srv.roleMu.Lock()
	defer srv.roleMu.Unlock()
	return srv.role.Serving
}

// leading reports whether this server expires sessions and reaps nodes:
// standalone, or the ensemble's leader.
func (srv *Server) leading() bool {
	if srv.ens == nil {
		return true
	}
	srv.roleMu.Lock()
	defer srv.roleMu.Unlock()
	return srv.role.Serving && srv.role.Leader
}

// mode is what srvr and mntr print as the server's state.
func (srv *Server) mode() string {
	if srv.ens == nil {
		return "standalone"
	}
	srv.roleMu.Lock()
	defer srv.roleMu.Unlock()
	return srv.role.Mode()
}

// watches is the tree's watch table (the tree may be replaced by a
// snapshot, so its pointer is read under the lock).
func (srv *Server) watches() *tree.Watches {
	srv.treeMu.RLock()
	defer srv.treeMu.RUnlock()
	return srv.tree.Watches
}

// Mode is the server's state as srvr prints it: standalone, leader,
// follower or looking.
func (srv *Server) Mode() string { return srv.mode() }

// revalidating is handleConnect's answer while the leader is asked about
// a connect: the frame stays buffered and is handled again afterwards.
const revalidating = "\x00revalidating"

// revalidation is the Origin of the sync a reconnect waits on.
type revalidation struct{ c *conn }

// revalidateCxid numbers the syncs of revalidations: negative, so they
// never meet a client's own (session, cxid) in the ensemble's tables.
var revalidateCxid atomic.Int32

// revalidate handles a connect that this server cannot answer from what it
// has applied: a session it has not learned (the client moved here right
// after another server created it) or a client that has seen a newer zxid.
// As ZooKeeper's followers ask the leader, the connection syncs with the
// leader first: once this server has applied everything the leader had
// proposed, the session, if it lives, is known here. The connect frame
// stays buffered and the connection takes no frames until Apply wakes it;
// then the connect is handled again, this time without a sync.
func (srv *Server) revalidate(c *conn, sessionID int64) string {
	c.revalidated = true
	c.mu.Lock()
	c.mu.revalidating = true
	c.mu.Unlock()
	err := srv.pipeline.Submit(&broadcast.Request{
		Request: tree.Request{Session: sessionID, Op: jute.OpSync, Cxid: -1 - revalidateCxid.Add(1)&math.MaxInt32},
		Origin:  &revalidation{c}, Now: srv.clock.UnixMilli(),
	})
	if err != nil {
		return "server shutting down"
	}
	return revalidating
}

// done lets the connection handle its buffered connect again, or closes
// it when the sync failed with the leader lost (the client tries another).
func (rv *revalidation) done(failed bool) {
	c := rv.c
	if failed {
		_ = c.gc.Close() // as for any request lost with the leader
		return
	}
	c.mu.Lock()
	c.mu.revalidating = false
	c.wakeLocked()
	c.mu.Unlock()
}
