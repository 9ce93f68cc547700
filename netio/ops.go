package netio

import (
	"errors"
	"strings"
	"time"

	"zkd/broadcast"
	"zkd/netio/jute"
	"zkd/tree"
)

// readReq is a decoded request answered from the local tree (or an error
// answered in order without touching it).
type readReq struct {
	hdr        jute.RequestHeader
	path       string
	watch      bool
	typ        int32 // checkWatches/removeWatches watcher type, addWatch mode
	setWatches *jute.SetWatches
	multi      *jute.MultiRequest
	err        jute.Err // answer with this error and no body
	closeAfter bool
}

func isWrite(op jute.Op) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpSetACL, jute.OpCheck, jute.OpMulti:
		return true
	}
	return false
}

// dispatch handles one request after the handshake; a non-empty result
// closes the connection.
func (srv *Server) dispatch(c *conn, h jute.RequestHeader, r *jute.Reader) string {
	rq := readReq{hdr: h}
	switch {
	case isWrite(h.Type) || h.Type == jute.OpSync || h.Type == jute.OpCloseSession || h.Type == jute.OpReconfig:
		return srv.submitWrite(c, h, r)
	case h.Type == jute.OpPing:
	case h.Type == jute.OpAuth:
		var p jute.AuthPacket
		p.Decode(r)
		if r.Err() != nil {
			return "malformed auth packet"
		}
		if !srv.authenticate(c, &p) {
			srv.log.Warn("authentication failed", "client", c.remote, "scheme", p.Scheme)
			rq.err, rq.closeAfter = jute.ErrAuthFailed, true
		}
	case h.Type == jute.OpSetWatches || h.Type == jute.OpSetWatches2:
		sw := &jute.SetWatches{Two: h.Type == jute.OpSetWatches2}
		sw.Decode(r)
		if r.Err() != nil {
			return "malformed setWatches"
		}
		rq.setWatches = sw
	case h.Type == jute.OpExists || h.Type == jute.OpGetData || h.Type == jute.OpGetChildren || h.Type == jute.OpGetChildren2:
		var p jute.PathWatchRequest
		p.Decode(r)
		rq.path, rq.watch = p.Path, p.Watch
	case h.Type == jute.OpGetACL || h.Type == jute.OpGetAllChildrenNumber || h.Type == jute.OpGetEphemerals:
		var p jute.PathRequest
		p.Decode(r)
		rq.path = p.Path
	case h.Type == jute.OpCheckWatches || h.Type == jute.OpRemoveWatches || h.Type == jute.OpAddWatch:
		var p jute.PathTypeRequest
		p.Decode(r)
		rq.path, rq.typ = p.Path, p.Type
	case h.Type == jute.OpMultiRead:
		m := &jute.MultiRequest{}
		m.Decode(r)
		if r.Err() == jute.ErrUnsupportedOp {
			rq.err = jute.ErrMarshallingError
			break
		}
		for _, op := range m.Ops {
			if op.Op != jute.OpGetData && op.Op != jute.OpGetChildren {
				rq.err = jute.ErrMarshallingError
			}
		}
		rq.multi = m
	case h.Type == jute.OpWhoAmI:
	default:
		// As ZooKeeper: answer Unimplemented (with zxid -1), then close.
		srv.log.Warn("unknown or unsupported opcode, closing connection", "client", c.remote, "op", h.Type.String())
		rq.err, rq.closeAfter = jute.ErrUnimplemented, true
	}
	if r.Err() != nil && rq.err == jute.ErrOK {
		return "malformed " + h.Type.String() + " request"
	}
	srv.treeMu.RLock()
	c.mu.Lock()
	if c.mu.submitted != c.mu.completed {
		c.mu.deferred = append(c.mu.deferred, deferredRead{barrier: c.mu.submitted, req: rq})
	} else {
		srv.serveLocked(c, &rq)
	}
	c.mu.Unlock()
	srv.treeMu.RUnlock()
	return ""
}

// authenticate handles addauth. digest adds user:base64(sha1) (and the
// super identity when it matches superDigest); ip adds the client address.
func (srv *Server) authenticate(c *conn, p *jute.AuthPacket) bool {
	switch p.Scheme {
	case "digest":
		// Like ZooKeeper, a credential without ':' is a user name with an
		// empty password part, not an error.
		digest := tree.DigestOf(string(p.Auth))
		if srv.cfg.SuperDigest != "" && digest == srv.cfg.SuperDigest {
			c.addAuth(tree.SuperID)
		}
		c.addAuth(jute.ID{Scheme: "digest", ID: digest})
		return true
	case "ip":
		c.addAuth(jute.ID{Scheme: "ip", ID: c.remote})
		return true
	}
	return false
}

// submitWrite decodes a write and hands it to the pipeline.
func (srv *Server) submitWrite(c *conn, h jute.RequestHeader, r *jute.Reader) string {
	req := &broadcast.Request{
		Request: tree.Request{Session: c.sess.id, Cxid: h.Xid, Op: h.Type, Auth: c.authIDs()},
		Origin:  c, Xid: h.Xid, Now: srv.clock.UnixMilli(),
	}
	switch h.Type {
	case jute.OpMulti:
		req.DecodeBody(r)
		bad := r.Err() == jute.ErrUnsupportedOp
		for _, op := range req.Multi.Ops {
			if op.Op == jute.OpGetData || op.Op == jute.OpGetChildren {
				bad = true // reads and writes do not mix in one multi
			}
		}
		if bad {
			return srv.answerInOrder(c, readReq{hdr: h, err: jute.ErrMarshallingError})
		}
		retypeMultiCreates(req.Multi)
	case jute.OpSync:
		var p jute.PathRequest
		p.Decode(r)
		req.Create = &jute.CreateRequest{Path: p.Path} // sync echoes its path
	case jute.OpCloseSession:
		c.sess.closing.Store(true)
	case jute.OpReconfig:
		// Without dynamic reconfiguration ZooKeeper logs an error txn
		// (ReconfigDisabled), so it takes a zxid like any failed write;
		// the Preparer turns it into one. Its body is not needed.
	default:
		req.DecodeBody(r) // the other writes (isWrite)
	}
	if r.Err() != nil {
		return "malformed " + h.Type.String() + " request"
	}
	if c.sess.closing.Load() && h.Type != jute.OpCloseSession {
		return srv.answerInOrder(c, readReq{hdr: h, err: jute.ErrSessionExpired})
	}
	c.mu.Lock()
	c.mu.submitted++
	c.mu.Unlock()
	if err := srv.pipeline.Submit(req); err != nil {
		return "server shutting down"
	}
	return ""
}

// retypeMultiCreates gives each create op of a multi the type its flags
// imply, whatever its header said, as Apache ZooKeeper's
// MultiOperationRecord does (Op.create picks create, createContainer or
// createTTL from the mode). A create2 inside a multi is thus answered like a
// create: with the path only.
func retypeMultiCreates(m *jute.MultiRequest) {
	for i := range m.Ops {
		op := &m.Ops[i]
		if !tree.IsCreate(op.Op) {
			continue
		}
		switch op.Create.Flags {
		case jute.ModeContainer:
			op.Op = jute.OpCreateContainer
		case jute.ModePersistentWithTTL, jute.ModePersistentSequentialWithTTL:
			op.Op = jute.OpCreateTTL
		default:
			op.Op = jute.OpCreate
		}
	}
}

// answerInOrder queues an answer that needs no tree, after the session's
// writes in flight.
func (srv *Server) answerInOrder(c *conn, rq readReq) string {
	srv.treeMu.RLock()
	c.mu.Lock()
	if c.mu.submitted != c.mu.completed {
		c.mu.deferred = append(c.mu.deferred, deferredRead{barrier: c.mu.submitted, req: rq})
	} else {
		srv.serveLocked(c, &rq)
	}
	c.mu.Unlock()
	srv.treeMu.RUnlock()
	return ""
}

// serveLocked answers a read from the tree; the tree is locked (shared or
// exclusive) and c.mu is held.
func (srv *Server) serveLocked(c *conn, rq *readReq) {
	t := srv.tree
	// Replies echo the request's xid, auth and setWatches included (the
	// Java client sends those with -4 and -8, others with ordinary xids);
	// a ping is always answered with -2, and auth with zxid 0, as
	// Apache ZooKeeper does.
	hdr := jute.ReplyHeader{Xid: rq.hdr.Xid, Zxid: t.LastZxid()}
	switch rq.hdr.Type {
	case jute.OpPing:
		hdr.Xid = jute.XidPing
	case jute.OpAuth:
		hdr.Zxid = 0
	}
	if rq.closeAfter {
		c.mu.closeAfter = true
	}
	c.noteLocked(rq.hdr.Type, rq.hdr.Xid)
	if rq.err != jute.ErrOK {
		hdr.Err = rq.err
		if rq.err == jute.ErrUnimplemented {
			hdr.Zxid = -1
		}
		c.frameLocked(&hdr, nil)
		return
	}
	var body jute.Record
	switch rq.hdr.Type {
	case jute.OpPing, jute.OpAuth:
	case jute.OpSetWatches, jute.OpSetWatches2:
		hdr.Err = srv.setWatchesLocked(c, rq.setWatches)
	case jute.OpExists:
		if strings.IndexByte(rq.path, 0) >= 0 {
			hdr.Err = jute.ErrBadArguments
			break
		}
		if rq.watch {
			t.Watches.AddData(rq.path, c.id)
		}
		if n, ok := t.Get(lookupPath(rq.path)); ok {
			c.mu.statResp = jute.StatResponse{Stat: n.Stat()}
			body = &c.mu.statResp
		} else {
			hdr.Err = jute.ErrNoNode
		}
	case jute.OpGetData:
		n, err := srv.readable(c, rq.path, jute.PermRead)
		if hdr.Err = err; err == jute.ErrOK {
			if rq.watch {
				t.Watches.AddData(rq.path, c.id)
			}
			c.mu.getData = jute.GetDataResponse{Data: n.Data(), Stat: n.Stat()}
			body = &c.mu.getData
		}
	case jute.OpGetChildren, jute.OpGetChildren2:
		n, err := srv.readable(c, rq.path, jute.PermRead)
		if hdr.Err = err; err == jute.ErrOK {
			if rq.watch {
				t.Watches.AddChild(rq.path, c.id)
			}
			children := n.Children(make([]string, 0, n.NumChildren()))
			if rq.hdr.Type == jute.OpGetChildren {
				body = &jute.StringsResponse{Strings: children}
			} else {
				body = &jute.GetChildren2Response{Children: children, Stat: n.Stat()}
			}
		}
	case jute.OpGetACL:
		body, hdr.Err = srv.getACLLocked(c, rq.path)
	case jute.OpGetAllChildrenNumber:
		n, err := srv.readable(c, rq.path, jute.PermRead)
		if hdr.Err = err; err == jute.ErrOK {
			count := n.CountDescendants()
			if rq.path == "" {
				count++ // every path starts with "" + "/", the root's own included
			}
			body = &jute.IntResponse{N: int32(count)}
		}
	case jute.OpGetEphemerals:
		body = &jute.StringsResponse{Strings: ephemeralsUnder(t.Ephemerals(c.sess.id), rq.path)}
	case jute.OpCheckWatches, jute.OpRemoveWatches:
		switch {
		case !tree.ValidWatcherType(rq.typ):
			hdr.Err = jute.ErrBadArguments
		case rq.hdr.Type == jute.OpCheckWatches && !t.Watches.Check(rq.path, c.id, rq.typ):
			hdr.Err = jute.ErrNoWatcher
		case rq.hdr.Type == jute.OpRemoveWatches && !t.Watches.Remove(rq.path, c.id, rq.typ):
			hdr.Err = jute.ErrNoWatcher
		}
	case jute.OpAddWatch:
		if rq.typ != jute.AddWatchPersistent && rq.typ != jute.AddWatchPersistentRecursive {
			hdr.Err = jute.ErrBadArguments
		} else {
			t.Watches.AddPersistent(rq.path, c.id, rq.typ == jute.AddWatchPersistentRecursive)
			body = &jute.IntResponse{} // ZooKeeper answers addWatch with an ErrorResponse of 0
		}
	case jute.OpWhoAmI:
		body = whoAmI(c.authIDs())
	case jute.OpMultiRead:
		body = srv.multiReadLocked(c, rq.multi)
	}
	c.frameLocked(&hdr, body)
	c.mu.getData.Data = nil // the tree's bytes, not to be held past the read lock
}

// readable looks a node up and checks perm on it.
func (srv *Server) readable(c *conn, path string, perm int32) (tree.Node, jute.Err) {
	n, ok := srv.tree.Get(lookupPath(path))
	if !ok {
		return n, jute.ErrNoNode
	}
	if !tree.CheckACL(n.ACL(), perm, c.authIDs()) {
		return n, jute.ErrNoAuth
	}
	return n, jute.ErrOK
}

// lookupPath maps "" to the root: Apache ZooKeeper's DataTree stores its
// root under both "" and "/", so reads of "" see the root.
func lookupPath(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// getACLLocked needs READ or ADMIN; without ADMIN the digest hashes are
// masked, as ZooKeeper 3.8 does.
func (srv *Server) getACLLocked(c *conn, path string) (jute.Record, jute.Err) {
	n, err := srv.readable(c, path, jute.PermRead|jute.PermAdmin)
	if err != jute.ErrOK {
		return nil, err
	}
	acl := n.ACL()
	if !tree.CheckACL(acl, jute.PermAdmin, c.authIDs()) {
		masked := make([]jute.ACL, len(acl))
		for i, a := range acl {
			masked[i] = a
			if a.ID.Scheme == "digest" {
				user, _, _ := strings.Cut(a.ID.ID, ":")
				masked[i].ID.ID = user + ":x"
			}
		}
		acl = masked
	}
	return &jute.GetACLResponse{ACL: acl, Stat: n.Stat()}, jute.ErrOK
}

func ephemeralsUnder(all []string, prefix string) []string {
	p := strings.TrimSpace(prefix)
	if p == "" || p == "/" {
		return all
	}
	out := make([]string, 0, len(all))
	for _, e := range all {
		if strings.HasPrefix(e, p) {
			out = append(out, e)
		}
	}
	return out
}

func whoAmI(ids []jute.ID) *jute.WhoAmIResponse {
	out := &jute.WhoAmIResponse{Infos: make([]jute.ClientInfo, 0, len(ids))}
	for _, id := range ids {
		user := id.ID
		if id.Scheme == "digest" {
			user, _, _ = strings.Cut(id.ID, ":")
		}
		out.Infos = append(out.Infos, jute.ClientInfo{AuthScheme: id.Scheme, User: user})
	}
	return out
}

func (srv *Server) multiReadLocked(c *conn, m *jute.MultiRequest) jute.Record {
	rsp := &jute.MultiResponse{Results: make([]jute.MultiResult, len(m.Ops))}
	for i, op := range m.Ops {
		n, err := srv.readable(c, op.Read.Path, jute.PermRead)
		switch {
		case err != jute.ErrOK:
			rsp.Results[i] = jute.MultiResult{Op: jute.OpError, Err: err}
		case op.Op == jute.OpGetData:
			// The data is encoded before the tree lock is released.
			rsp.Results[i] = jute.MultiResult{Op: jute.OpGetData, Data: n.Data(), Stat: n.Stat()}
		default:
			rsp.Results[i] = jute.MultiResult{Op: jute.OpGetChildren, Children: n.Children(make([]string, 0, n.NumChildren()))}
		}
	}
	return rsp
}

// setWatchesLocked re-registers a reconnecting client's watches, first
// firing those whose condition changed since relativeZxid. It walks the
// lists in wire order; a null list stops it with MarshallingError after the
// lists before it took effect, which is what Apache ZooKeeper answers.
func (srv *Server) setWatchesLocked(c *conn, sw *jute.SetWatches) jute.Err {
	t := srv.tree
	rel := sw.RelativeZxid
	event := func(typ jute.EventType, path string) {
		h := jute.ReplyHeader{Xid: jute.XidWatchEvent, Zxid: -1}
		c.mu.event = jute.WatcherEvent{Type: typ, State: jute.StateSyncConnected, Path: path}
		c.frameLocked(&h, &c.mu.event)
	}
	lists := [][]string{sw.DataWatches, sw.ExistWatches, sw.ChildWatches}
	if sw.Two {
		lists = append(lists, sw.PersistentWatches, sw.PersistentRecursive)
	}
	for kind, paths := range lists {
		if paths == nil {
			return jute.ErrMarshallingError
		}
		for _, p := range paths {
			n, exists := t.Get(lookupPath(p))
			switch kind {
			case 0: // data
				switch {
				case !exists:
					event(jute.EventNodeDeleted, p)
				case n.Stat().Mzxid > rel:
					event(jute.EventNodeDataChanged, p)
				default:
					t.Watches.AddData(p, c.id)
				}
			case 1: // exist
				if exists {
					event(jute.EventNodeCreated, p)
				} else {
					t.Watches.AddData(p, c.id)
				}
			case 2: // child
				switch {
				case !exists:
					event(jute.EventNodeDeleted, p)
				case n.Stat().Pzxid > rel:
					event(jute.EventNodeChildrenChanged, p)
				default:
					t.Watches.AddChild(p, c.id)
				}
			case 3:
				t.Watches.AddPersistent(p, c.id, false)
			case 4:
				t.Watches.AddPersistent(p, c.id, true)
			}
		}
	}
	return jute.ErrOK
}

// Apply is the pipeline's StateMachine: it applies a committed batch under
// the tree's write lock, queues watch events, then replies.
func (srv *Server) Apply(txns []tree.Txn, reqs []*broadcast.Request, commitErr error) {
	if errors.Is(commitErr, broadcast.ErrNotServing) {
		// The ensemble lost its leader with these in flight: they may
		// still commit under the next one. Like ZooKeeper, close the
		// connection (the client sees ConnectionLoss: outcome unknown)
		// rather than answer with an error that claims they failed.
		for _, req := range reqs {
			switch o := req.Origin.(type) {
			case *conn:
				_ = o.gc.Close()
			case *revalidation:
				o.done(true)
			}
		}
		return
	}
	srv.treeMu.Lock()
	defer srv.treeMu.Unlock()
	now := time.Now()
	for i := range txns {
		x := &txns[i]
		req := reqs[i]
		var res tree.Result
		if commitErr != nil {
			res = tree.Result{Op: x.Type, Err: jute.ErrSystemError}
		} else {
			res, srv.evBuf = srv.tree.Apply(x, srv.evBuf[:0])
			srv.deliverEvents(srv.evBuf)
		}
		// The reply is queued before afterApply may mark the connection to
		// close (closeSession), so the client always gets it.
		if req != nil {
			if req.Now > 0 {
				srv.stats.latency(now.Sub(time.UnixMilli(req.Now)))
			}
			switch o := req.Origin.(type) {
			case *conn:
				srv.replyWrite(o, req, x, &res)
			case *revalidation:
				o.done(commitErr != nil)
			}
		}
		srv.afterApply(x, commitErr)
	}
}

// afterApply keeps the session table in step with session transactions.
func (srv *Server) afterApply(x *tree.Txn, commitErr error) {
	if commitErr != nil {
		return
	}
	switch x.Type {
	case jute.OpCreateSession:
		s := srv.sessions.get(x.Session)
		if s == nil {
			// Created through another server of the ensemble: a client may
			// reconnect here with it.
			s = newSession(x.Session, x.Timeout)
			srv.sessions.put(s)
		}
		s.touch(srv.clock.UnixNano())
		s.created.Store(true)
	case jute.OpCloseSession:
		if s := srv.sessions.get(x.Session); s != nil {
			srv.sessions.remove(x.Session)
			if c := s.owner(); c != nil {
				c.mu.Lock()
				c.mu.closeAfter = true
				c.wakeLocked()
				c.mu.Unlock()
			}
		}
	}
}

func (srv *Server) deliverEvents(ev []tree.Event) {
	for _, e := range ev {
		c := srv.connByWatcher(e.Watcher)
		if c == nil {
			continue
		}
		// A watcher without READ on the node does not learn of the change
		// (ZooKeeper's fix for CVE-2024-23944).
		if !tree.CheckACL(e.ACL, jute.PermRead, c.authIDs()) {
			continue
		}
		h := jute.ReplyHeader{Xid: jute.XidWatchEvent, Zxid: -1}
		c.mu.Lock()
		if !c.mu.closed {
			c.mu.event = jute.WatcherEvent{Type: e.Type, State: jute.StateSyncConnected, Path: e.Path}
			c.frameLocked(&h, &c.mu.event)
			c.wakeLocked()
		}
		c.mu.Unlock()
	}
}

// replyWrite answers a committed write, then serves the reads that waited
// for it.
func (srv *Server) replyWrite(c *conn, req *broadcast.Request, x *tree.Txn, res *tree.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.completed++
	if c.mu.closed {
		return
	}
	c.noteLocked(req.Op, req.Xid)
	if x.Type == jute.OpCreateSession {
		if res.Err == jute.ErrOK {
			c.connectReplyLocked(x.Timeout, x.Session, SessionPassword(x.Session))
		} else {
			c.connectReplyLocked(0, 0, make([]byte, 16))
			c.mu.closeAfter = true
		}
	} else {
		hdr := jute.ReplyHeader{Xid: req.Xid, Zxid: x.Zxid, Err: res.Err}
		var body jute.Record
		if res.Err == jute.ErrOK {
			body = c.writeReplyBodyLocked(req, res)
		}
		if x.Type == jute.OpMulti {
			hdr.Err = jute.ErrOK // per-op errors are in the body
			body = multiReplyBody(x, res)
		}
		c.frameLocked(&hdr, body)
	}
	for len(c.mu.deferred) > 0 && c.mu.deferred[0].barrier <= c.mu.completed {
		rq := c.mu.deferred[0].req
		c.mu.deferred[0] = deferredRead{}
		c.mu.deferred = c.mu.deferred[1:]
		srv.serveLocked(c, &rq)
	}
	if len(c.mu.deferred) == 0 {
		c.mu.deferred = nil
	}
	c.wakeLocked()
}

// writeReplyBodyLocked returns the reply record of a write that
// succeeded, in c's scratch (c.mu held; encode it before unlocking).
func (c *conn) writeReplyBodyLocked(req *broadcast.Request, res *tree.Result) jute.Record {
	switch req.Op {
	case jute.OpCreate:
		c.mu.pathResp = jute.PathResponse{Path: res.Path}
		return &c.mu.pathResp
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		c.mu.create2 = jute.Create2Response{Path: res.Path, Stat: res.Stat}
		return &c.mu.create2
	case jute.OpSetData, jute.OpSetACL:
		c.mu.statResp = jute.StatResponse{Stat: res.Stat}
		return &c.mu.statResp
	case jute.OpSync:
		c.mu.pathResp = jute.PathResponse{Path: req.Create.Path}
		return &c.mu.pathResp
	}
	return nil
}

func multiReplyBody(x *tree.Txn, res *tree.Result) jute.Record {
	rsp := &jute.MultiResponse{Results: make([]jute.MultiResult, len(res.Multi))}
	for i, sub := range res.Multi {
		r := jute.MultiResult{Op: sub.Op, Err: sub.Err, Path: sub.Path, Stat: sub.Stat}
		switch {
		case sub.Op == jute.OpError || sub.Err != jute.ErrOK:
			r = jute.MultiResult{Op: jute.OpError, Err: sub.Err}
		case sub.Op == jute.OpCreateContainer || sub.Op == jute.OpCreateTTL:
			r.Op = jute.OpCreate2
		}
		rsp.Results[i] = r
	}
	return rsp
}
