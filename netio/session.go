package netio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// SessionPassword is a session's 16-byte password, derived from its id
// exactly as Apache ZooKeeper derives it (ZooKeeperServer.generatePasswd:
// the first 16 bytes of java.util.Random seeded with id ^ 0xB3415C00).
// Every server of an ensemble must derive the same password so a client
// can reconnect to any of them, and a client holding a session from an
// Apache ZooKeeper data directory imported into zkd (tools/zkimport)
// presents this one. Like ZooKeeper's, it stops a client from
// reconnecting to a session id it mistyped, not an attacker who knows
// the id.
func SessionPassword(id int64) []byte {
	const (
		superSecret = 0xB3415C00
		multiplier  = 0x5DEECE66D
		addend      = 0xB
		mask        = 1<<48 - 1
	)
	seed := uint64(id^superSecret^multiplier) & mask
	p := make([]byte, 16)
	for i := 0; i < len(p); {
		// Random.nextInt(): the top 32 of the 48 seed bits after a step.
		seed = (seed*multiplier + addend) & mask
		rnd := uint32(seed >> 16)
		// Random.nextBytes: each int fills up to 4 bytes, low byte first.
		for n := min(len(p)-i, 4); n > 0; n-- {
			p[i] = byte(rnd)
			rnd >>= 8
			i++
		}
	}
	return p
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
