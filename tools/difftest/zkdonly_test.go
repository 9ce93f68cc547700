package difftest

import (
	"errors"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio/jute"
)

// These tests cover the requests that crash, hang or wrongly fail Apache
// ZooKeeper 3.8.0 (DESIGN.md, "Where Apache ZooKeeper 3.8.0 is wrong").
// The differential test never sends them to the reference; here zkd alone
// must give its documented answer and keep serving.

func dialZkd(t *testing.T, addr string) *wire.Conn {
	t.Helper()
	c, err := wire.Dial(addr, wire.Options{Timeout: sessionTimeout, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		_ = c.CloseSession()
	})
	return c
}

// call is one bounded request; it fails the test on a transport error.
func call(t *testing.T, c *wire.Conn, op jute.Op, req, resp jute.Record) jute.ReplyHeader {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	h, err := c.Call(op, req, resp)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return h
}

// stillServing checks that a fresh session can write and read.
func stillServing(t *testing.T, addr, path string) {
	t.Helper()
	c := dialZkd(t, addr)
	if h := call(t, c, jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte("up"), ACL: openACL}, &jute.PathResponse{}); h.Err != jute.ErrOK {
		t.Fatalf("create %s after the defect case: %v", path, h.Err)
	}
	var got jute.GetDataResponse
	if h := call(t, c, jute.OpGetData, &jute.PathWatchRequest{Path: path}, &got); h.Err != jute.ErrOK || string(got.Data) != "up" {
		t.Fatalf("getData %s after the defect case: %v %q", path, h.Err, got.Data)
	}
}

func TestZkdCreateTTLNonTTLModeNegativeTTL(t *testing.T) {
	addr := startZkd(t)
	c := dialZkd(t, addr)
	for _, mode := range []int32{jute.ModePersistent, jute.ModeEphemeral, jute.ModePersistentSequential,
		jute.ModeEphemeralSequential, jute.ModeContainer} {
		req := &jute.CreateRequest{Path: "/ttl", Data: []byte("x"), ACL: openACL, Flags: mode, TTL: -1, HasTTL: true}
		if h := call(t, c, jute.OpCreateTTL, req, &jute.Create2Response{}); h.Err != jute.ErrBadArguments {
			t.Errorf("createTTL mode %d ttl -1: %v, want BadArguments", mode, h.Err)
		}
	}
	if h := call(t, c, jute.OpExists, &jute.PathWatchRequest{Path: "/ttl"}, &jute.StatResponse{}); h.Err != jute.ErrNoNode {
		t.Errorf("exists /ttl after refused creates: %v, want NoNode", h.Err)
	}
	stillServing(t, addr, "/after-ttl")
}

func TestZkdStandaloneCheck(t *testing.T) {
	addr := startZkd(t)
	c := dialZkd(t, addr)
	call(t, c, jute.OpCreate, &jute.CreateRequest{Path: "/chk", Data: []byte("x"), ACL: openACL}, &jute.PathResponse{})
	for _, tc := range []struct {
		path    string
		version int32
		want    jute.Err
	}{
		{"/chk", 0, jute.ErrOK},
		{"/chk", -1, jute.ErrOK},
		{"/chk", 3, jute.ErrBadVersion},
		{"/nosuch", -1, jute.ErrNoNode},
	} {
		h := call(t, c, jute.OpCheck, &jute.PathVersionRequest{Path: tc.path, Version: tc.version}, nil)
		if h.Err != tc.want {
			t.Errorf("check %s version %d: %v, want %v", tc.path, tc.version, h.Err, tc.want)
		}
	}
	stillServing(t, addr, "/after-check")
}

func TestZkdUnknownWatcherType(t *testing.T) {
	addr := startZkd(t)
	c := dialZkd(t, addr)
	call(t, c, jute.OpExists, &jute.PathWatchRequest{Path: "/w", Watch: true}, &jute.StatResponse{})
	for _, op := range []jute.Op{jute.OpCheckWatches, jute.OpRemoveWatches} {
		for _, typ := range []int32{0, 9, -1} {
			if h := call(t, c, op, &jute.PathTypeRequest{Path: "/w", Type: typ}, nil); h.Err != jute.ErrBadArguments {
				t.Errorf("%s type %d: %v, want BadArguments", op, typ, h.Err)
			}
		}
	}
	for _, mode := range []int32{7, 2, -1} {
		if h := call(t, c, jute.OpAddWatch, &jute.PathTypeRequest{Path: "/w", Type: mode}, nil); h.Err != jute.ErrBadArguments {
			t.Errorf("addWatch mode %d: %v, want BadArguments", mode, h.Err)
		}
	}
	// The data watch set above is untouched by the refused requests.
	if h := call(t, c, jute.OpCheckWatches, &jute.PathTypeRequest{Path: "/w", Type: jute.WatcherData}, nil); h.Err != jute.ErrOK {
		t.Errorf("checkWatches data after refused requests: %v, want OK", h.Err)
	}
	stillServing(t, addr, "/after-watch")
}

// TestZkdCloseSessionReply closes many sessions and counts those whose
// closeSession got no reply (bug closesession-reply-lost). It fails only
// when the bug shows and is not on the skip-list.
func TestZkdCloseSessionReply(t *testing.T) {
	const sessions = 300
	addr := startZkd(t)
	lost := 0
	for i := 0; i < sessions; i++ {
		c, err := wire.Dial(addr, wire.Options{Timeout: sessionTimeout, DialTimeout: dialTimeout})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		h, err := c.Call(jute.OpCloseSession, nil, nil)
		c.Close()
		switch {
		case errors.Is(err, wire.ErrClosed):
			lost++
		case err != nil:
			t.Fatalf("closeSession %d: %v", i, err)
		case h.Err != jute.ErrOK:
			t.Fatalf("closeSession %d: %v", i, h.Err)
		}
	}
	switch {
	case lost == 0:
		if knownBug("closesession-reply-lost") {
			t.Logf("no closeSession reply lost in %d: if this holds, remove closesession-reply-lost from KnownBugs", sessions)
		}
	case knownBug("closesession-reply-lost"):
		t.Logf("known bug closesession-reply-lost: %d of %d closeSession requests got no reply", lost, sessions)
	default:
		t.Errorf("%d of %d closeSession requests got no reply (the connection closed first)", lost, sessions)
	}
}
