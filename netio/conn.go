package netio

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"zkd/netio/jute"
	"zkd/tree"
)

const (
	// outboundBytesMax bounds what one connection may have queued and not
	// yet written; past it the client is too slow and is disconnected.
	outboundBytesMax = 64 << 20
	// outstandingWritesMax bounds one connection's writes in flight; past
	// it the connection stops reading frames until replies catch up.
	outstandingWritesMax = 1000
	// deferredMax bounds reads waiting behind writes on one connection.
	deferredMax = 10000
)

// deferredRead is a read that arrived while earlier writes of the same
// session were in flight; it is served once writes up to barrier complete.
type deferredRead struct {
	barrier uint64
	req     readReq
}

// conn is one client connection. Fields without a comment belong to the
// connection's event loop; those in mu are shared with the pipeline.
type conn struct {
	id     tree.WatcherID
	gc     gnet.Conn
	srv    *Server
	remote string // client IP, for ip ACLs and maxClientCnxns
	peer   string // client ip:port, for cons
	opened time.Time

	reader jute.Reader // reused for every frame; event loop only
	// auth holds the identities of addauth; as in ZooKeeper they belong to
	// the connection (a client re-sends them after reconnecting). Copied
	// into each write request, read by deferred reads on the pipeline.
	authMu sync.Mutex
	auth   []jute.ID

	handshaken  bool
	revalidated bool          // the leader was asked about the connect's session
	sess        *session      // set once, at the handshake, on the event loop
	sid         atomic.Int64  // sess.id, for readers on other goroutines
	received    atomic.Uint64 // frames received, for cons

	mu struct {
		sync.Mutex
		out *bytebufferpool.ByteBuffer
		// w and the records below are scratch for frameLocked and its
		// callers: a reply is encoded into out at once, so one of each per
		// connection spares an allocation per reply.
		w          jute.Writer
		statResp   jute.StatResponse
		pathResp   jute.PathResponse
		create2    jute.Create2Response
		getData    jute.GetDataResponse
		event      jute.WatcherEvent
		wakeQueued bool
		closed     bool
		closeAfter bool // close once out is flushed (closeSession, refused connect)
		// revalidating: the connect names a session this server has not
		// learned yet; its frames wait until a sync with the leader
		// says whether the session exists (see Server.revalidate).
		revalidating bool
		submitted    uint64
		completed    uint64
		deferred     []deferredRead
		sent         uint64
		lastZxid     int64
		lastOp       jute.Op
		lastCxid     int32
		lastResp     int64 // ms
	}
}

// frameLocked appends one reply frame to the outbound queue; c.mu held.
func (c *conn) frameLocked(h *jute.ReplyHeader, body jute.Record) {
	w := &c.mu.w
	w.B = c.mu.out.B
	at := w.BeginFrame()
	h.Encode(w)
	if body != nil {
		body.Encode(w)
	}
	w.EndFrame(at)
	c.mu.out.B, w.B = w.B, nil
	c.mu.sent++
	if h.Zxid > c.mu.lastZxid {
		c.mu.lastZxid = h.Zxid
	}
}

// noteLocked records the last request answered, for cons.
func (c *conn) noteLocked(op jute.Op, xid int32) {
	c.mu.lastOp, c.mu.lastCxid, c.mu.lastResp = op, xid, c.srv.clock.UnixMilli()
}

// wakeLocked asks the event loop to flush, from another goroutine.
func (c *conn) wakeLocked() {
	if !c.mu.wakeQueued && !c.mu.closed {
		c.mu.wakeQueued = true
		_ = c.gc.Wake(nil)
	}
}

// flush hands queued bytes to gnet; event loop only. It reports whether
// the connection should now close.
func (c *conn) flush() (closeNow bool) {
	c.mu.Lock()
	b := c.mu.out
	if len(b.B) == 0 {
		c.mu.wakeQueued = false
		closeNow = c.mu.closeAfter
		c.mu.Unlock()
		return closeNow
	}
	c.mu.out = bytebufferpool.Get()
	c.mu.wakeQueued = false
	closeNow = c.mu.closeAfter
	c.mu.Unlock()
	if closeNow {
		c.srv.log.Debug("closing connection after its last reply", "client", c.remote, "session", sessionHex(c.sessionID()))
	}
	_, err := c.gc.Write(b.B)
	bytebufferpool.Put(b)
	if err != nil {
		c.srv.log.Debug("closing connection: write failed", "client", c.remote, "session", sessionHex(c.sessionID()), "err", err)
		return true
	}
	if c.gc.OutboundBuffered() > outboundBytesMax {
		c.srv.log.Warn("closing slow client: outbound queue over limit",
			"client", c.remote, "session", sessionHex(c.sessionID()), "bytes", c.gc.OutboundBuffered())
		return true
	}
	return closeNow
}

func (c *conn) sessionID() int64 { return c.sid.Load() }

// setSession binds the connection to s (event loop, at the handshake).
func (c *conn) setSession(s *session) {
	c.sess = s
	c.sid.Store(s.id)
}

// readFrame returns the next whole frame (without its length prefix) or
// nil when more bytes are needed. bad is set for a frame that must close
// the connection.
func (c *conn) readFrame() (frame []byte, size int, bad string) {
	n := c.gc.InboundBuffered()
	if n < 4 {
		return nil, 0, ""
	}
	head, _ := c.gc.Peek(4)
	length := int(int32(binary.BigEndian.Uint32(head)))
	if length < 0 || length > c.srv.cfg.MaxRequestBytes {
		return nil, 0, "frame length out of range"
	}
	if n < 4+length {
		return nil, 0, ""
	}
	buf, err := c.gc.Peek(4 + length)
	if err != nil {
		return nil, 0, "short read"
	}
	return buf[4:], 4 + length, ""
}

// authIDs returns the connection's identities. The slice is never modified
// after it is published (addAuth replaces it), so callers may keep it.
func (c *conn) authIDs() []jute.ID {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.auth
}

func (c *conn) addAuth(id jute.ID) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	for _, have := range c.auth {
		if have == id {
			return
		}
	}
	next := make([]jute.ID, len(c.auth), len(c.auth)+1)
	copy(next, c.auth)
	c.auth = append(next, id)
}
