package netio

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// passwordSecret keys session passwords. Every server of an ensemble must
// derive the same password for a session id so a client can reconnect to
// any of them; like ZooKeeper's fixed superSecret it is a constant.
var passwordSecret = []byte("zkd session password v1")

// sessionPassword derives a session's 16-byte password from its id.
func sessionPassword(id int64) []byte {
	m := hmac.New(sha256.New, passwordSecret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	m.Write(b[:])
	return m.Sum(nil)[:16]
}

func sessionHex(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

// session is a client session as this server tracks it.
type session struct {
	id        int64
	timeoutMs atomic.Int32 // negotiated; renegotiated on reconnect
	deadline  atomic.Int64 // unix nanos; expired when now passes it
	closing   atomic.Bool  // closeSession submitted (by the client or expiry)
	created   atomic.Bool  // createSession applied

	connMu sync.Mutex
	conn   *conn // the connection that owns the session now, or nil
}

func newSession(id int64, timeoutMs int32) *session {
	s := &session{id: id}
	s.timeoutMs.Store(timeoutMs)
	return s
}

// touch pushes the session's deadline to nowNanos plus its timeout.
func (s *session) touch(nowNanos int64) {
	s.deadline.Store(nowNanos + int64(s.timeoutMs.Load())*int64(time.Millisecond))
}

func (s *session) owner() *conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conn
}

// setOwner makes c the session's connection and returns the previous one.
func (s *session) setOwner(c *conn) *conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	old := s.conn
	s.conn = c
	return old
}

// clearOwner drops c as owner if it still is.
func (s *session) clearOwner(c *conn) {
	s.connMu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.connMu.Unlock()
}

// sessionTable holds the sessions this server knows.
type sessionTable struct {
	mu     sync.Mutex
	m      map[int64]*session
	nextID int64
}

func newSessionTable(serverID int64, now time.Time) *sessionTable {
	// As ZooKeeper: the server id in the top byte, the clock below, so ids
	// stay unique across restarts and servers.
	base := (now.UnixMilli() << 24) >> 8
	base &= 1<<56 - 1
	return &sessionTable{m: make(map[int64]*session), nextID: base | (serverID&0xff)<<56}
}

func (t *sessionTable) newID() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	return t.nextID
}

func (t *sessionTable) get(id int64) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

func (t *sessionTable) put(s *session) {
	t.mu.Lock()
	t.m[s.id] = s
	t.mu.Unlock()
}

func (t *sessionTable) remove(id int64) {
	t.mu.Lock()
	delete(t.m, id)
	t.mu.Unlock()
}

func (t *sessionTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// expired returns the sessions whose deadline has passed and marks them
// closing, so each is expired once.
func (t *sessionTable) expired(now time.Time) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for _, s := range t.m {
		if s.created.Load() && now.UnixNano() > s.deadline.Load() && s.closing.CompareAndSwap(false, true) {
			out = append(out, s)
		}
	}
	return out
}

func (t *sessionTable) all() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s)
	}
	return out
}
