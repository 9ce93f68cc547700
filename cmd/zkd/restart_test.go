package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio/jute"
	"zkd/tree"
)

// TestSessionsSurviveRestart: sessions are transactions, so after a SIGKILL
// and a restart a client resumes its session (id and password) with its
// ephemerals, while a session whose client never comes back expires and
// its ephemerals go.
func TestSessionsSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test skipped in -short mode")
	}
	bin := buildZkd(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	cmd := startZkdProcess(t, bin, addr, dataDir)

	stay, err := wire.Dial(addr, wire.Options{Timeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := wire.Dial(addr, wire.Options{Timeout: 1 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		c    *wire.Conn
		path string
	}{{stay, "/stay"}, {gone, "/gone"}} {
		h, err := e.c.Call(jute.OpCreate, &jute.CreateRequest{Path: e.path, ACL: tree.OpenACLUnsafe, Flags: jute.ModeEphemeral}, nil)
		if err != nil || h.Err != jute.ErrOK {
			t.Fatalf("create %s: %v %v", e.path, err, h.Err)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	stay.Close()
	gone.Close()

	startZkdProcess(t, bin, addr, dataDir)
	back, err := wire.Dial(addr, wire.Options{Timeout: 4 * time.Second, SessionID: stay.SessionID, Passwd: stay.Passwd})
	if err != nil {
		t.Fatalf("resuming the session after a restart: %v", err)
	}
	defer back.CloseSession()
	if back.SessionID != stay.SessionID {
		t.Fatalf("resumed session 0x%x, want 0x%x", back.SessionID, stay.SessionID)
	}
	var st jute.StatResponse
	if h, err := back.Call(jute.OpExists, &jute.PathWatchRequest{Path: "/stay"}, &st); err != nil || h.Err != jute.ErrOK || st.Stat.EphemeralOwner != stay.SessionID {
		t.Fatalf("/stay after restart: %v %v owner 0x%x", err, h.Err, st.Stat.EphemeralOwner)
	}
	// The abandoned session expires once its timeout has passed since the
	// restart (it was given a full timeout to come back).
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := back.Call(jute.OpExists, &jute.PathWatchRequest{Path: "/gone"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Err == jute.ErrNoNode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned session's ephemeral outlived its timeout after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Its old password no longer opens anything.
	if _, err := wire.Dial(addr, wire.Options{SessionID: gone.SessionID, Passwd: gone.Passwd}); err == nil {
		t.Fatal("an expired session was resumed")
	}
}
