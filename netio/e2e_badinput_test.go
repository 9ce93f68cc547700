package netio_test

// End-to-end tests of bad input. After each case a healthy session that
// was connected before it must still work, and the server must still take
// new sessions: bad input costs at most the connection that sent it.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"github.com/go-zookeeper/zk"

	"zkd/netio"
	"zkd/netio/jute"
)

const e2eMaxRequestBytes = 1024

func TestE2EBadInput(t *testing.T) {
	addr := e2eStart(t, func(c *netio.Config) { c.MaxRequestBytes = e2eMaxRequestBytes })
	healthy := e2eConnect(t, addr)
	if _, err := healthy.Create("/healthy", []byte("ok"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	id := healthy.SessionID()
	stillHealthy := func(t *testing.T) {
		t.Helper()
		if d, _, err := healthy.Get("/healthy"); err != nil || string(d) != "ok" {
			t.Fatalf("healthy session after bad input: %q %v", d, err)
		}
		if healthy.SessionID() != id {
			t.Fatalf("healthy session changed id")
		}
		if n := healthy.events.count(e2eIsState(zk.StateDisconnected)); n != 0 {
			t.Fatalf("healthy session was disconnected %d times", n)
		}
		r := e2eRawSession(t, addr) // and new sessions are still accepted
		if err := r.call(jute.OpExists, &jute.PathWatchRequest{Path: "/healthy"}, nil); err != jute.ErrOK {
			t.Fatalf("new session: exists: %v", err)
		}
	}
	// raw bytes on a new connection, then expect the server to close it.
	closedAfter := func(t *testing.T, what string, b []byte) {
		t.Helper()
		r := e2eRawDial(t, addr)
		r.mustWrite(b)
		r.expectClosed(what)
	}
	session := func(t *testing.T) *e2eRaw {
		t.Helper()
		return e2eRawSession(t, addr)
	}
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

	t.Run("garbage before handshake", func(t *testing.T) {
		closedAfter(t, "HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		rng := rand.New(rand.NewSource(1))
		junk := make([]byte, 512)
		rng.Read(junk)
		junk[0] = 0x7f // a length far over the limit
		closedAfter(t, "random bytes", junk)
		stillHealthy(t)
	})
	t.Run("undecodable connect request", func(t *testing.T) {
		closedAfter(t, "short connect", append(be32(6), 1, 2, 3, 4, 5, 6))
		closedAfter(t, "empty frame", be32(0))
		// A ConnectRequest whose password length is negative.
		var w jute.Writer
		w.Int(0)
		w.Long(0)
		w.Int(2000)
		w.Long(0)
		w.Int(-7)
		closedAfter(t, "negative buffer length", append(be32(int32(len(w.B))), w.B...))
		stillHealthy(t)
	})
	t.Run("truncated frame then close", func(t *testing.T) {
		r := e2eRawDial(t, addr)
		r.mustWrite(append(be32(100), make([]byte, 10)...))
		_ = r.c.Close()
		s := session(t)
		s.mustWrite(append(be32(200), make([]byte, 50)...))
		_ = s.c.Close()
		stillHealthy(t)
	})
	t.Run("frame over MaxRequestBytes", func(t *testing.T) {
		s := session(t)
		big := make([]byte, 4+2000)
		binary.BigEndian.PutUint32(big, 2000)
		_ = s.write(big) // the server may close before reading it all
		s.expectClosed("2000-byte frame")
		closedAfter(t, "oversized frame before handshake", append(be32(e2eMaxRequestBytes+1), make([]byte, 64)...))
		stillHealthy(t)
	})
	t.Run("negative frame length", func(t *testing.T) {
		s := session(t)
		s.mustWrite(be32(-16))
		s.expectClosed("negative length")
		closedAfter(t, "negative length before handshake", be32(-1))
		stillHealthy(t)
	})
	t.Run("truncated request body", func(t *testing.T) {
		s := session(t)
		// getData whose path claims 100 bytes in a 13-byte frame.
		var w jute.Writer
		at := w.BeginFrame()
		(&jute.RequestHeader{Xid: 1, Type: jute.OpGetData}).Encode(&w)
		w.Int(100)
		w.B = append(w.B, 'x')
		w.EndFrame(at)
		s.mustWrite(w.B)
		s.expectClosed("truncated getData")
		stillHealthy(t)
	})
	t.Run("unknown opcode", func(t *testing.T) {
		s := session(t)
		// Unimplemented, with the request's xid. ZooKeeper 3.8 then closes
		// the connection (UnimplementedRequestProcessor calls
		// sendCloseSession), and may or may not answer a request already
		// pipelined behind it first; zkd keeps the connection. Either way,
		// a request sent after it is answered correctly or not at all.
		s.mustWrite(append(e2eRequest(5, jute.Op(999), &jute.PathRequest{Path: "/"}),
			e2eRequest(6, jute.OpExists, &jute.PathWatchRequest{Path: "/healthy"})...))
		h, _, err := s.readReply(e2eWait)
		if err != nil || h.Xid != 5 || h.Err != jute.ErrUnimplemented {
			t.Fatalf("unknown opcode: reply %+v (%v), want xid 5 err Unimplemented", h, err)
		}
		if h, _, err := s.readReply(e2eWait); err == nil && (h.Xid != 6 || h.Err != jute.ErrOK) {
			t.Errorf("request after an unknown opcode: %+v", h)
		}
		stillHealthy(t)
	})
	t.Run("bad paths", func(t *testing.T) {
		s := session(t)
		if err := s.call(jute.OpCreate, &jute.CreateRequest{Path: "/a", ACL: e2eWorld}, nil); err != jute.ErrOK {
			t.Fatal(err)
		}
		// The answers are ZooKeeper 3.8's: it looks the parent up before
		// it validates the whole path, so a path whose parent part is
		// itself invalid ("a/b", "/a//b") gets NoNode: no such parent can
		// exist.
		for _, tc := range []struct {
			op   jute.Op
			path string
			want jute.Err
		}{
			{jute.OpCreate, "", jute.ErrBadArguments},
			{jute.OpCreate, "a", jute.ErrBadArguments},
			{jute.OpCreate, "/a/", jute.ErrBadArguments},
			{jute.OpCreate, "/a/.", jute.ErrBadArguments},
			{jute.OpCreate, "/a/..", jute.ErrBadArguments},
			{jute.OpCreate, "/a/b\x00", jute.ErrBadArguments},
			{jute.OpCreate, "/a/\x01", jute.ErrBadArguments},
			{jute.OpCreate, "a/b", jute.ErrNoNode},
			{jute.OpCreate, "/a//b", jute.ErrNoNode},
			{jute.OpCreate, "/a/./b", jute.ErrNoNode},
			{jute.OpCreate, "/a/../b", jute.ErrNoNode},
			{jute.OpSetData, "", jute.ErrBadArguments},
			{jute.OpSetData, "a", jute.ErrBadArguments},
			{jute.OpSetData, "/a/", jute.ErrBadArguments},
			{jute.OpDelete, "", jute.ErrBadArguments},
			{jute.OpDelete, "a", jute.ErrBadArguments},
			{jute.OpDelete, "/a/", jute.ErrNoNode},
		} {
			var req jute.Record
			switch tc.op {
			case jute.OpCreate:
				req = &jute.CreateRequest{Path: tc.path, ACL: e2eWorld}
			case jute.OpSetData:
				req = &jute.SetDataRequest{Path: tc.path, Version: -1}
			case jute.OpDelete:
				req = &jute.PathVersionRequest{Path: tc.path, Version: -1}
			}
			if err := s.call(tc.op, req, nil); err != tc.want {
				t.Errorf("%v %q: %v, want %v", tc.op, tc.path, err, tc.want)
			}
		}
		var kids jute.StringsResponse
		if err := s.call(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/a"}, &kids); err != jute.ErrOK || len(kids.Strings) != 0 {
			t.Errorf("children of /a after bad creates: %v %v", kids.Strings, err)
		}
		stillHealthy(t)
	})
	t.Run("children of an ephemeral", func(t *testing.T) {
		c := e2eConnect(t, addr)
		if _, err := c.Create("/e", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
			t.Fatal(err)
		}
		for _, flags := range []int32{zk.FlagPersistent, zk.FlagEphemeral, zk.FlagSequence, zk.FlagEphemeralSequential} {
			if _, err := c.Create("/e/kid", nil, flags, e2eOpenACL); !errors.Is(err, zk.ErrNoChildrenForEphemerals) {
				t.Errorf("create under ephemeral (flags %d): %v, want ErrNoChildrenForEphemerals", flags, err)
			}
		}
		stillHealthy(t)
	})
	t.Run("setData over MaxRequestBytes", func(t *testing.T) {
		c := e2eConnect(t, addr)
		if _, err := c.Create("/big", []byte("small"), 0, e2eOpenACL); err != nil {
			t.Fatal(err)
		}
		err := e2eCall(t, "Set with 2000 bytes", func() error {
			_, err := c.Set("/big", bytes.Repeat([]byte("x"), 2000), -1)
			return err
		})
		if err == nil {
			t.Fatal("setData larger than MaxRequestBytes succeeded")
		}
		if d, _, err := healthy.Get("/big"); err != nil || string(d) != "small" {
			t.Errorf("/big after the oversized setData: %q %v", d, err)
		}
		stillHealthy(t)
	})
	t.Run("invalid ACL", func(t *testing.T) {
		c := e2eConnect(t, addr)
		for _, tc := range []struct {
			name string
			acl  []zk.ACL
		}{
			{"empty", []zk.ACL{}},
			{"unknown scheme", []zk.ACL{{Perms: zk.PermAll, Scheme: "bogus", ID: "x"}}},
			{"world not anyone", []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "someone"}}},
			{"digest without hash", []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: "user"}}},
			{"bad ip", []zk.ACL{{Perms: zk.PermAll, Scheme: "ip", ID: "not-an-ip"}}},
			{"auth without identity", zk.AuthACL(zk.PermAll)},
		} {
			if _, err := c.Create("/acl-"+tc.name, nil, 0, tc.acl); !errors.Is(err, zk.ErrInvalidACL) {
				t.Errorf("create with %s ACL: %v, want ErrInvalidACL", tc.name, err)
			}
			if ok, _, _ := c.Exists("/acl-" + tc.name); ok {
				t.Errorf("node with %s ACL was created", tc.name)
			}
		}
		// A null ACL vector on the wire is invalid too.
		s := session(t)
		if err := s.call(jute.OpCreate, &jute.CreateRequest{Path: "/nullacl", ACL: nil}, nil); err != jute.ErrInvalidACL {
			t.Errorf("create with a null ACL: %v, want InvalidACL", err)
		}
		stillHealthy(t)
	})
	t.Run("bad create modes", func(t *testing.T) {
		s := session(t)
		for _, mode := range []int32{-1, 7, 42} {
			if err := s.call(jute.OpCreate, &jute.CreateRequest{Path: "/mode", ACL: e2eWorld, Flags: mode}, nil); err != jute.ErrBadArguments {
				t.Errorf("create with mode %d: %v, want BadArguments", mode, err)
			}
		}
		// createTTL with a non-TTL mode and ttl -1 is refused, and the
		// server stays up. (ZooKeeper 3.8 accepts it and its sync thread
		// dies: DESIGN.md, "Where Apache ZooKeeper 3.8.0 is wrong".)
		if e2eReference() {
			return
		}
		if err := s.call(jute.OpCreateTTL, &jute.CreateRequest{Path: "/ttlbad", ACL: e2eWorld, Flags: jute.ModePersistent, TTL: -1, HasTTL: true}, nil); err != jute.ErrBadArguments {
			t.Errorf("createTTL with a persistent mode: %v, want BadArguments", err)
		}
		stillHealthy(t)
	})
}
