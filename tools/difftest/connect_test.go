package difftest

import (
	"fmt"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio/jute"
)

// connectCase opens connections in some way and describes the outcome in
// server-independent words.
type connectCase struct {
	name string
	bug  string // KnownBugs id, or ""
	run  func(addr string) string
}

func dialOutcome(addr string, o wire.Options) (string, *wire.Conn) {
	if o.DialTimeout == 0 {
		o.DialTimeout = dialTimeout
	}
	c, err := wire.Dial(addr, o)
	if err != nil {
		return "dial: " + errClass(err), nil
	}
	return fmt.Sprintf("timeout=%dms passwd=%dB", c.Timeout, len(c.Passwd)), c
}

func closeQuietly(c *wire.Conn) {
	if c != nil {
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		_ = c.CloseSession()
	}
}

var connectCases = []connectCase{
	{"session timeout below the minimum", "", func(addr string) string {
		s, c := dialOutcome(addr, wire.Options{Timeout: time.Millisecond})
		closeQuietly(c)
		return s
	}},
	{"session timeout above the maximum", "", func(addr string) string {
		s, c := dialOutcome(addr, wire.Options{Timeout: time.Hour})
		closeQuietly(c)
		return s
	}},
	{"resume with a wrong password", "", func(addr string) string {
		_, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout})
		if c == nil {
			return "first dial failed"
		}
		defer closeQuietly(c)
		bad := append([]byte(nil), c.Passwd...)
		bad[0] ^= 0xff
		s, c2 := dialOutcome(addr, wire.Options{Timeout: sessionTimeout, SessionID: c.SessionID, Passwd: bad})
		if c2 != nil {
			c2.Close()
		}
		return s
	}},
	{"resume a session that does not exist", "", func(addr string) string {
		s, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout, SessionID: 0x7fff_0000_0000_1234, Passwd: make([]byte, 16)})
		if c != nil {
			c.Close()
		}
		return s
	}},
	{"resume a closed session", "", func(addr string) string {
		_, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout})
		if c == nil {
			return "first dial failed"
		}
		id, pw := c.SessionID, c.Passwd
		closeQuietly(c)
		s, c2 := dialOutcome(addr, wire.Options{Timeout: sessionTimeout, SessionID: id, Passwd: pw})
		if c2 != nil {
			c2.Close()
		}
		return s
	}},
	{"resume keeps the session and its ephemerals", "", func(addr string) string {
		_, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout})
		if c == nil {
			return "first dial failed"
		}
		path := fmt.Sprintf("/connect-eph-%d", time.Now().UnixNano())
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		h, err := c.Call(jute.OpCreate, &jute.CreateRequest{Path: path, ACL: openACL, Flags: jute.ModeEphemeral}, &jute.PathResponse{})
		if err != nil || h.Err != jute.ErrOK {
			return fmt.Sprintf("create: %v %v", err, h.Err)
		}
		c.Close()
		s, c2 := dialOutcome(addr, wire.Options{Timeout: sessionTimeout, SessionID: c.SessionID, Passwd: c.Passwd})
		if c2 == nil {
			return s
		}
		defer closeQuietly(c2)
		same := c2.SessionID == c.SessionID
		var st jute.StatResponse
		_ = c2.SetDeadline(time.Now().Add(callTimeout))
		h, err = c2.Call(jute.OpExists, &jute.PathWatchRequest{Path: path}, &st)
		return fmt.Sprintf("%s same-id=%v exists=%v/%v owner-is-session=%v", s, same, errClass(err), h.Err.String(), st.Stat.EphemeralOwner == c.SessionID)
	}},
	{"client has seen a zxid the server has not", "", func(addr string) string {
		s, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout, LastZxidSeen: 1 << 60})
		closeQuietly(c)
		return s
	}},
	{"unknown opcode", "", func(addr string) string {
		_, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout})
		if c == nil {
			return "dial failed"
		}
		defer closeQuietly(c)
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		h, err := c.Call(jute.Op(99), nil, nil)
		if err != nil {
			return "op 99: " + errClass(err)
		}
		zx := "last"
		if h.Zxid == -1 {
			zx = "-1"
		}
		_, err = c.Call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, &jute.StatResponse{})
		return fmt.Sprintf("op 99: %s zxid=%s; then exists: %s", h.Err.String(), zx, errClass(err))
	}},
	{"reconfig takes a zxid", "", func(addr string) string {
		_, c := dialOutcome(addr, wire.Options{Timeout: sessionTimeout})
		if c == nil {
			return "dial failed"
		}
		defer closeQuietly(c)
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		h1, err := c.Call(jute.OpSync, &jute.PathRequest{Path: "/"}, &jute.PathResponse{})
		if err != nil {
			return "sync: " + errClass(err)
		}
		h2, err := c.Call(jute.OpReconfig, &reconfigRequest{NewMembers: "server.5=127.0.0.1:1:2"}, nil)
		if err != nil {
			return "reconfig: " + errClass(err)
		}
		return fmt.Sprintf("reconfig: %s zxid=last+%d", h2.Err.String(), h2.Zxid-h1.Zxid)
	}},
}

// reconfigRequest is ReconfigRequest (zookeeper.jute).
type reconfigRequest struct {
	JoiningServers, LeavingServers, NewMembers string
	CurConfigID                                int64
}

func (x *reconfigRequest) Encode(w *jute.Writer) {
	w.String(x.JoiningServers)
	w.String(x.LeavingServers)
	w.String(x.NewMembers)
	w.Long(x.CurConfigID)
}

func (x *reconfigRequest) Decode(r *jute.Reader) {
	x.JoiningServers, x.LeavingServers, x.NewMembers, x.CurConfigID = r.String(), r.String(), r.String(), r.Long()
}

// TestConnect compares the handshake and session-level behaviours that
// the sequence runner does not reach.
func TestConnect(t *testing.T) {
	p := newPair(t)
	for _, tc := range connectCases {
		t.Run(tc.name, func(t *testing.T) {
			z, r := tc.run(p.Zkd.Addr), tc.run(p.Ref.Addr)
			switch {
			case z == r && tc.bug != "":
				t.Logf("bug %s no longer reproduces (%s): remove it from KnownBugs", tc.bug, z)
			case z == r:
				t.Logf("both: %s", z)
			case tc.bug != "" && knownBug(tc.bug):
				t.Logf("known zkd bug %s:\n  zkd:       %s\n  zookeeper: %s", tc.bug, z, r)
			default:
				t.Errorf("difference:\n  zkd:       %s\n  zookeeper: %s", z, r)
			}
		})
	}
}
