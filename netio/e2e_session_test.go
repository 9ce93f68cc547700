package netio_test

// End-to-end tests of sessions: ephemerals end with their session (closed
// or expired), a client that loses its connection resumes its session
// with id and password, and a wrong password is refused.

import (
	"bytes"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/netio/jute"
)

func TestE2EEphemeralGoneOnClose(t *testing.T) {
	addr := e2eStart(t)
	owner := e2eConnect(t, addr)
	watcher := e2eConnect(t, addr)

	if _, err := owner.Create("/eph", []byte("x"), zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	seq, err := owner.Create("/ephs-", nil, zk.FlagEphemeralSequential, e2eOpenACL)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, ch, err := watcher.ExistsW("/eph")
	if err != nil || !ok {
		t.Fatalf("existsW: %v %v", ok, err)
	}
	_, _, cch, err := watcher.ChildrenW("/")
	if err != nil {
		t.Fatal(err)
	}
	owner.Close()
	e2eExpectEvent(t, "ephemeral on close", ch, zk.EventNodeDeleted, "/eph")
	e2eExpectEvent(t, "parent of ephemeral on close", cch, zk.EventNodeChildrenChanged, "/")
	for _, p := range []string{"/eph", seq} {
		if ok, _, err := watcher.Exists(p); err != nil || ok {
			t.Errorf("%s after its session closed: exists=%v %v", p, ok, err)
		}
	}
}

func TestE2EEphemeralGoneOnExpiry(t *testing.T) {
	addr := e2eStart(t)
	var nw e2eNet
	const timeout = 600 * time.Millisecond
	owner := e2eConnect(t, addr, e2eWithDialer(nw.dial), e2eWithTimeout(timeout))
	watcher := e2eConnect(t, addr)
	oldID := owner.SessionID()

	if _, err := owner.Create("/exp", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	ok, _, ch, err := watcher.ExistsW("/exp")
	if err != nil || !ok {
		t.Fatalf("existsW: %v %v", ok, err)
	}
	// The owner's pings stop reaching the server, and it cannot reconnect.
	frozen := time.Now()
	nw.setFrozen(true)
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted || ev.Path != "/exp" {
			t.Fatalf("event %+v, want NodeDeleted /exp", ev)
		}
	case <-time.After(timeout + 2*e2eWait):
		t.Fatalf("ephemeral of a silent session still there after %v", timeout+2*e2eWait)
	}
	if since := time.Since(frozen); since < timeout/2 {
		t.Errorf("session expired %v after the client went silent, before its timeout %v", since, timeout)
	}
	if ok, _, _ := watcher.Exists("/exp"); ok {
		t.Error("/exp exists after NodeDeleted")
	}

	// Let the client reconnect: the server refuses the expired session,
	// the client reports StateExpired and then opens a new session.
	n := len(owner.events.all())
	nw.setFrozen(false)
	if owner.events.waitFor(n, 2*e2eWait, e2eIsState(zk.StateExpired)) < 0 {
		t.Fatalf("client never saw StateExpired; events: %v", owner.events.all()[n:])
	}
	if owner.events.waitFor(n, 2*e2eWait, e2eIsState(zk.StateHasSession)) < 0 {
		t.Fatalf("client got no new session; events: %v", owner.events.all()[n:])
	}
	if id := owner.SessionID(); id == oldID || id == 0 {
		t.Errorf("session id after expiry %#x, old %#x", id, oldID)
	}
	if _, err := owner.Create("/exp2", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Errorf("create in the new session: %v", err)
	}
}

// TestE2EReconnectKeepsSession cuts a go-zookeeper client's TCP
// connection; the client reconnects with its session id and password and
// keeps its session and ephemerals.
//
// The client holds no watches while it reconnects: go-zookeeper v1.0.4
// reads Conn.lastZxid in sendSetWatches without synchronisation with its
// receive loop (go-zookeeper/zk PR #35, samuel/go-zookeeper#178), which
// -race reports. Watch re-registration is tested over the raw protocol in
// TestE2ESetWatchesAfterReconnect.
func TestE2EReconnectKeepsSession(t *testing.T) {
	addr := e2eStart(t)
	var nw e2eNet
	c := e2eConnect(t, addr, e2eWithDialer(nw.dial))
	other := e2eConnect(t, addr)
	id := c.SessionID()

	if _, err := c.Create("/rc", []byte("x"), zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	ok, _, otherWatch, err := other.ExistsW("/rc")
	if err != nil || !ok {
		t.Fatalf("existsW: %v %v", ok, err)
	}

	n := len(c.events.all())
	nw.drop() // cut the TCP connection behind the client's back
	if c.events.waitFor(n, e2eWait, e2eIsState(zk.StateDisconnected)) < 0 {
		t.Fatalf("client did not notice the cut; events %v", c.events.all()[n:])
	}
	if c.events.waitFor(n, 2*e2eWait, e2eIsState(zk.StateHasSession)) < 0 {
		t.Fatalf("client did not get its session back; events %v", c.events.all()[n:])
	}
	if i := c.events.waitFor(n, 0, e2eIsState(zk.StateExpired)); i >= 0 {
		t.Fatalf("session expired on reconnect")
	}
	if got := c.SessionID(); got != id {
		t.Fatalf("session id after reconnect %#x, want %#x", got, id)
	}
	if nw.dialCount() < 2 {
		t.Fatalf("client did not reconnect (dials %d)", nw.dialCount())
	}
	// The ephemeral survived, and its owner is still the session.
	_, st, err := other.Get("/rc")
	if err != nil || st.EphemeralOwner != id {
		t.Fatalf("ephemeral after reconnect: %+v %v", st, err)
	}
	select {
	case ev := <-otherWatch:
		t.Fatalf("another session's watch on the ephemeral fired: %+v", ev)
	default:
	}
	// The session still works: writes, and new watches.
	if _, err := c.Set("/rc", []byte("y"), -1); err != nil {
		t.Fatalf("set after reconnect: %v", err)
	}
	e2eExpectEvent(t, "other session's watch on the ephemeral", otherWatch, zk.EventNodeDataChanged, "/rc")
	_, _, w, err := c.GetW("/rc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Set("/rc", []byte("z"), -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "watch set after reconnect", w, zk.EventNodeDataChanged, "/rc")
	// Closing the resumed session removes its ephemeral.
	_, _, otherWatch, err = other.ExistsW("/rc")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e2eExpectEvent(t, "ephemeral after close", otherWatch, zk.EventNodeDeleted, "/rc")
}

// TestE2ESetWatchesAfterReconnect: a client resumes its session on a new
// connection and re-sends its watches with setWatches and the last zxid
// it saw. As in ZooKeeper (DataTree.setWatches), a watch whose condition
// already changed fires at once, before the setWatches reply; the others
// are registered and fire later.
func TestE2ESetWatchesAfterReconnect(t *testing.T) {
	addr := e2eStart(t)
	m := e2eRawSession(t, addr)
	for _, p := range []string{"/d", "/same", "/gone", "/kids", "/kidsame"} {
		if err := m.call(jute.OpCreate, &jute.CreateRequest{Path: p, ACL: e2eWorld}, nil); err != jute.ErrOK {
			t.Fatal(err)
		}
	}
	a := e2eRawSession(t, addr)
	var root jute.StatResponse
	if err := a.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, &root); err != jute.ErrOK {
		t.Fatal(err)
	}
	seen := root.Stat.Pzxid // the last create: the client has seen everything so far
	_ = a.c.Close()         // the connection is gone; the session is not

	for _, step := range []struct {
		op  jute.Op
		req jute.Record
	}{
		{jute.OpSetData, &jute.SetDataRequest{Path: "/d", Data: []byte("1"), Version: -1}},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/gone", Version: -1}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/born", ACL: e2eWorld}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/kids/k", ACL: e2eWorld}},
	} {
		if err := m.call(step.op, step.req, nil); err != jute.ErrOK {
			t.Fatalf("%v: %v", step.op, err)
		}
	}

	b := e2eRawDial(t, addr)
	rsp, err := b.connect(jute.ConnectRequest{TimeOut: 2000, LastZxidSeen: seen, SessionID: a.sessionID, Passwd: a.passwd})
	if err != nil || rsp.SessionID != a.sessionID {
		t.Fatalf("resume: %+v %v", rsp, err)
	}
	// xid -8 is what the Java client uses, so this does not depend on how
	// the server picks the reply xid.
	b.mustWrite(e2eRequest(jute.XidSetWatches, jute.OpSetWatches, &jute.SetWatches{
		RelativeZxid: seen,
		DataWatches:  []string{"/d", "/same", "/gone"},
		ExistWatches: []string{"/born", "/notyet"},
		ChildWatches: []string{"/kids", "/kidsame"},
	}))
	h, _ := b.next()
	if h.Xid != jute.XidSetWatches || h.Err != jute.ErrOK {
		t.Fatalf("setWatches reply %+v", h)
	}
	want := map[jute.WatcherEvent]bool{
		{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: "/d"}:        true,
		{Type: jute.EventNodeDeleted, State: jute.StateSyncConnected, Path: "/gone"}:         true,
		{Type: jute.EventNodeCreated, State: jute.StateSyncConnected, Path: "/born"}:         true,
		{Type: jute.EventNodeChildrenChanged, State: jute.StateSyncConnected, Path: "/kids"}: true,
	}
	got := map[jute.WatcherEvent]bool{}
	for _, ev := range b.events {
		got[ev] = true
	}
	if len(b.events) != len(want) || len(got) != len(want) {
		t.Errorf("events before the setWatches reply: %+v, want %v", b.events, want)
	}
	for ev := range want {
		if !got[ev] {
			t.Errorf("missing event %+v before the setWatches reply (got %+v)", ev, b.events)
		}
	}
	// The unchanged ones were registered.
	b.events = nil
	for _, step := range []struct {
		op  jute.Op
		req jute.Record
	}{
		{jute.OpSetData, &jute.SetDataRequest{Path: "/same", Data: []byte("1"), Version: -1}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/notyet", ACL: e2eWorld}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/kidsame/k", ACL: e2eWorld}},
	} {
		if err := m.call(step.op, step.req, nil); err != jute.ErrOK {
			t.Fatalf("%v: %v", step.op, err)
		}
	}
	if err := b.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	wantLater := []jute.WatcherEvent{
		{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: "/same"},
		{Type: jute.EventNodeCreated, State: jute.StateSyncConnected, Path: "/notyet"},
		{Type: jute.EventNodeChildrenChanged, State: jute.StateSyncConnected, Path: "/kidsame"},
	}
	if len(b.events) != len(wantLater) {
		t.Fatalf("events from re-registered watches: %+v, want %+v", b.events, wantLater)
	}
	for i := range wantLater {
		if b.events[i] != wantLater[i] {
			t.Errorf("event %d: %+v, want %+v", i, b.events[i], wantLater[i])
		}
	}
}

// TestE2ESetWatchesReplyEchoesXid: ZooKeeper 3.8 answers setWatches with
// the request's xid. go-zookeeper sends setWatches (after every reconnect
// with watches) under an ordinary xid and matches the reply by it; a reply
// under xid -8 is logged as "Xid < 0 (-8) but not ping or watcher event"
// and the client's setWatches call never completes.
func TestE2ESetWatchesReplyEchoesXid(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawSession(t, addr)
	r.mustWrite(e2eRequest(9, jute.OpSetWatches, &jute.SetWatches{
		DataWatches: []string{}, ExistWatches: []string{"/nothing"}, ChildWatches: []string{},
	}))
	h, _, err := r.readReply(e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	if h.Xid != 9 || h.Err != jute.ErrOK {
		t.Errorf("setWatches reply header %+v, want xid 9 err OK", h)
	}
}

// TestE2EWrongPassword: resuming a session with the wrong password gets a
// ConnectResponse with timeOut 0 and sessionId 0, then the server closes
// the connection. The session itself is not harmed.
func TestE2EWrongPassword(t *testing.T) {
	addr := e2eStart(t)
	a := e2eRawSession(t, addr)
	if err := a.call(jute.OpCreate, &jute.CreateRequest{Path: "/pw", ACL: e2eWorld, Flags: jute.ModeEphemeral}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}

	bad := append([]byte(nil), a.passwd...)
	bad[0] ^= 0xff
	for _, tc := range []struct {
		name   string
		id     int64
		passwd []byte
	}{
		{"wrong password", a.sessionID, bad},
		{"empty password", a.sessionID, []byte{}},
		{"unknown session", a.sessionID + 1000, a.passwd},
	} {
		r := e2eRawDial(t, addr)
		rsp, err := r.connect(jute.ConnectRequest{TimeOut: 2000, SessionID: tc.id, Passwd: tc.passwd, LastZxidSeen: 0})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rsp.TimeOut != 0 || rsp.SessionID != 0 {
			t.Errorf("%s: ConnectResponse %+v, want timeOut 0 and sessionId 0", tc.name, rsp)
		}
		if !bytes.Equal(rsp.Passwd, make([]byte, 16)) {
			t.Errorf("%s: password in refusal %x, want 16 zero bytes", tc.name, rsp.Passwd)
		}
		r.expectClosed(tc.name)
	}

	// The right password still resumes the session, ephemeral and all.
	r := e2eRawDial(t, addr)
	rsp, err := r.connect(jute.ConnectRequest{TimeOut: 2000, SessionID: a.sessionID, Passwd: a.passwd})
	if err != nil {
		t.Fatal(err)
	}
	if rsp.SessionID != a.sessionID || rsp.TimeOut <= 0 || !bytes.Equal(rsp.Passwd, a.passwd) {
		t.Fatalf("resume with the right password: %+v", rsp)
	}
	var st jute.StatResponse
	if err := r.call(jute.OpExists, &jute.PathWatchRequest{Path: "/pw"}, &st); err != jute.ErrOK || st.Stat.EphemeralOwner != a.sessionID {
		t.Errorf("ephemeral after resume: %v %+v", err, st.Stat)
	}
}

// TestE2ESessionTimeoutBounds: the negotiated timeout is clamped to
// [2, 20] ticks.
func TestE2ESessionTimeoutBounds(t *testing.T) {
	addr := e2eStart(t)
	for _, tc := range []struct{ ask, want int32 }{
		{1, 200}, {200, 200}, {1234, 1234}, {2000, 2000}, {60000, 2000},
	} {
		r := e2eRawDial(t, addr)
		rsp, err := r.connect(jute.ConnectRequest{TimeOut: tc.ask, Passwd: make([]byte, 16)})
		if err != nil {
			t.Fatal(err)
		}
		if rsp.TimeOut != tc.want || rsp.SessionID == 0 || len(rsp.Passwd) != 16 {
			t.Errorf("asked %d ms: %+v, want timeOut %d", tc.ask, rsp, tc.want)
		}
	}
}

// TestE2ECloseSessionReply: closeSession is answered (xid echoed, err OK)
// before the server closes the connection, every time.
func TestE2ECloseSessionReply(t *testing.T) {
	addr := e2eStart(t)
	watcher := e2eRawSession(t, addr)
	for i := 0; i < 300; i++ {
		r := e2eRawSession(t, addr)
		if err := r.call(jute.OpCreate, &jute.CreateRequest{Path: "/cs", ACL: e2eWorld, Flags: jute.ModeEphemeral}, nil); err != jute.ErrOK {
			t.Fatalf("round %d: create: %v", i, err)
		}
		r.mustWrite(e2eRequest(77, jute.OpCloseSession, nil))
		h, _, err := r.readReply(e2eWait)
		if err != nil {
			t.Fatalf("round %d: no closeSession reply: %v", i, err)
		}
		if h.Xid != 77 || h.Err != jute.ErrOK {
			t.Fatalf("round %d: closeSession reply %+v", i, h)
		}
		r.expectClosed("after closeSession")
		if err := watcher.call(jute.OpExists, &jute.PathWatchRequest{Path: "/cs"}, nil); err != jute.ErrNoNode {
			t.Fatalf("round %d: ephemeral after closeSession: %v", i, err)
		}
		// A closed session cannot be resumed.
		r2 := e2eRawDial(t, addr)
		rsp, err := r2.connect(jute.ConnectRequest{TimeOut: 2000, SessionID: r.sessionID, Passwd: r.passwd})
		if err != nil || rsp.SessionID != 0 {
			t.Fatalf("round %d: resuming a closed session: %+v %v", i, rsp, err)
		}
	}
}

// TestE2EClientZxidAhead: a client that has seen a newer zxid than the
// server's is refused: ZooKeeper closes the connection without a
// ConnectResponse.
func TestE2EClientZxidAhead(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawDial(t, addr)
	r.mustWrite(e2eFrame(&jute.ConnectRequest{TimeOut: 2000, LastZxidSeen: 1 << 40, Passwd: make([]byte, 16)}))
	if b, err := r.readFrame(e2eWait); err == nil {
		t.Fatalf("got a ConnectResponse (%x), want the connection closed", b)
	}
	r.expectClosed("client zxid ahead")
}

// TestE2ESessionMovesToNewConnection: a client resumes its session on a
// new connection while the old one is still open and busy (a half-open
// TCP connection, as after a network partition). The server moves the
// session to the new connection and closes the old one. Ten moves, each
// while the old connection is streaming pings, so that both connections
// touch the session at the same time (under -race this caught an
// unsynchronised session.timeoutMs).
func TestE2ESessionMovesToNewConnection(t *testing.T) {
	addr := e2eStart(t)
	cur := e2eRawSession(t, addr)
	if err := cur.call(jute.OpCreate, &jute.CreateRequest{Path: "/mv", ACL: e2eWorld, Flags: jute.ModeEphemeral}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	id, passwd := cur.sessionID, cur.passwd
	for round := 0; round < 10; round++ {
		old := cur
		// One goroutine streams pings, another drains the replies, so the
		// old connection always has frames for the server to handle.
		busyDone := make(chan struct{})
		go func() {
			defer close(busyDone)
			for {
				if _, _, err := old.readReply(e2eWait); err != nil {
					return // closed by the server: expected
				}
			}
		}()
		go func() {
			var pings []byte
			for i := 0; i < 200; i++ {
				pings = append(pings, e2eRequest(jute.XidPing, jute.OpPing, nil)...)
			}
			for i := 0; i < 500; i++ {
				if old.write(pings) != nil {
					return
				}
			}
		}()
		cur = e2eRawDial(t, addr)
		timeout := int32(1500 + round)
		rsp, err := cur.connect(jute.ConnectRequest{TimeOut: timeout, SessionID: id, Passwd: passwd})
		if err != nil || rsp.SessionID != id || rsp.TimeOut != timeout {
			t.Fatalf("round %d: resume on a new connection: %+v %v", round, rsp, err)
		}
		select {
		case <-busyDone:
		case <-time.After(2 * e2eWait):
			t.Fatalf("round %d: the old connection was not closed after its session moved", round)
		}
		var st jute.StatResponse
		if err := cur.call(jute.OpExists, &jute.PathWatchRequest{Path: "/mv"}, &st); err != jute.ErrOK || st.Stat.EphemeralOwner != id {
			t.Fatalf("round %d: ephemeral after the move: %v %+v", round, err, st.Stat)
		}
	}
}
