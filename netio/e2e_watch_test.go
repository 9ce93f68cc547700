package netio_test

// End-to-end tests of watches: one-shot watches from go-zookeeper, the
// "ready znode" ordering guarantee, and (over the raw protocol, since
// go-zookeeper v1.0.4 has no API for them) persistent watches,
// checkWatches and removeWatches.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/netio/jute"
)

// e2eExpectEvent waits for one event on a go-zookeeper watch channel.
func e2eExpectEvent(t *testing.T, what string, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch channel closed without an event", what)
		}
		if ev.Type != typ || ev.Path != path || ev.State != zk.StateSyncConnected || ev.Err != nil {
			t.Fatalf("%s: event %+v, want %v on %s (state SyncConnected)", what, ev, typ, path)
		}
	case <-time.After(e2eWait):
		t.Fatalf("%s: no %v event on %s within %v", what, typ, path, e2eWait)
	}
}

// e2eBarrier makes a round trip on c: every event the server queued for c
// before answering is then recorded.
func e2eBarrier(t *testing.T, c *e2eClient) {
	t.Helper()
	if _, _, err := c.Exists("/"); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

func TestE2EOneShotWatches(t *testing.T) {
	addr := e2eStart(t)
	w := e2eConnect(t, addr) // watcher
	m := e2eConnect(t, addr) // mutator
	w2 := e2eConnect(t, addr)

	if _, err := m.Create("/w", []byte("0"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	countOn := func(c *e2eClient, path string) int {
		return c.events.count(func(ev zk.Event) bool { return ev.Type != zk.EventSession && ev.Path == path })
	}

	// GetW: NodeDataChanged, once.
	_, _, ch, err := w.GetW("/w")
	if err != nil {
		t.Fatal(err)
	}
	_, _, ch2, err := w2.GetW("/w") // another session watching the same node
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set("/w", []byte("1"), -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "GetW", ch, zk.EventNodeDataChanged, "/w")
	e2eExpectEvent(t, "GetW on a second session", ch2, zk.EventNodeDataChanged, "/w")
	if _, err := m.Set("/w", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	e2eBarrier(t, w)
	if n := countOn(w, "/w"); n != 1 {
		t.Errorf("one-shot data watch delivered %d events for two changes, want 1: %v", n, w.events.all())
	}

	// ExistsW on a missing node: NodeCreated.
	ok, _, ch, err := w.ExistsW("/w2")
	if err != nil || ok {
		t.Fatalf("existsW on missing node: %v %v", ok, err)
	}
	if _, err := m.Create("/w2", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "ExistsW (missing)", ch, zk.EventNodeCreated, "/w2")

	// ExistsW on an existing node: NodeDataChanged, then (new watch)
	// NodeDeleted.
	_, _, ch, err = w.ExistsW("/w2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set("/w2", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "ExistsW (existing), set", ch, zk.EventNodeDataChanged, "/w2")
	_, _, ch, err = w.ExistsW("/w2")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("/w2", -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "ExistsW (existing), delete", ch, zk.EventNodeDeleted, "/w2")
	e2eBarrier(t, w)
	if n := countOn(w, "/w2"); n != 3 {
		t.Errorf("events on /w2: %d, want 3 (created, changed, deleted)", n)
	}

	// ChildrenW: NodeChildrenChanged on the parent for a create and for a
	// delete; a child's data change does not fire it.
	_, _, ch, err = w.ChildrenW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("/w/a", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "ChildrenW, create", ch, zk.EventNodeChildrenChanged, "/w")
	_, _, ch, err = w.ChildrenW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set("/w/a", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set("/w", []byte("x"), -1); err != nil { // a data change is not a child change
		t.Fatal(err)
	}
	if err := m.Delete("/w/a", -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "ChildrenW, delete", ch, zk.EventNodeChildrenChanged, "/w")

	// GetW and ChildrenW on the same node, then the node is deleted: one
	// NodeDeleted notification on the wire, delivered to both watchers.
	before := countOn(w, "/w")
	_, _, dch, err := w.GetW("/w")
	if err != nil {
		t.Fatal(err)
	}
	_, _, cch, err := w.ChildrenW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("/w", -1); err != nil {
		t.Fatal(err)
	}
	e2eExpectEvent(t, "GetW, delete", dch, zk.EventNodeDeleted, "/w")
	e2eExpectEvent(t, "ChildrenW, delete of the node itself", cch, zk.EventNodeDeleted, "/w")
	e2eBarrier(t, w)
	if n := countOn(w, "/w") - before; n != 1 {
		t.Errorf("deleting a node with a data and a child watch sent %d notifications, want 1", n)
	}

	// The session that makes the change gets the event before the reply
	// to its own write.
	if _, err := m.Create("/own", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := m.GetW("/own"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set("/own", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if n := m.events.count(e2eIsNode(zk.EventNodeDataChanged, "/own")); n != 1 {
		t.Errorf("own write: %d events recorded when the reply arrived, want 1", n)
	}

	// A watch set by a failed getData (NoNode) does not exist.
	if _, _, _, err := w.GetW("/never"); err == nil {
		t.Fatal("GetW on a missing node succeeded")
	}
	if _, err := m.Create("/never", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	e2eBarrier(t, w)
	if n := countOn(w, "/never"); n != 0 {
		t.Errorf("a getData that failed with NoNode left a watch: %d events", n)
	}
}

// TestE2EReadyZnode is the "ready znode" pattern of the ZooKeeper paper:
// B deletes /ready, writes /config, recreates /ready. A watches /ready. On
// A's connection the NodeDeleted event must come before any reply that
// shows the new /config. The client records events on its receive loop
// before it processes later replies, so "the event was recorded when the
// read returned" is exactly "the event preceded the reply on the wire".
func TestE2EReadyZnode(t *testing.T) {
	const iterations = 200
	addr := e2eStart(t)
	a := e2eConnect(t, addr)
	b := e2eConnect(t, addr)

	if _, err := b.Create("/config", []byte("v0"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create("/ready", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	deletedEvents := func() int {
		return a.events.count(e2eIsNode(zk.EventNodeDeleted, "/ready"))
	}

	// The independent reader: A reads /config in a loop; whenever a read
	// shows version i, the i-th NodeDeleted must already be recorded.
	var (
		stop       atomic.Bool
		reads      atomic.Int64
		violations sync.Mutex
		bad        []string
	)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !stop.Load() {
			d, _, err := a.Get("/config")
			if err != nil {
				violations.Lock()
				bad = append(bad, fmt.Sprintf("reader: %v", err))
				violations.Unlock()
				return
			}
			reads.Add(1)
			var v int
			if _, err := fmt.Sscanf(string(d), "v%d", &v); err != nil {
				continue
			}
			if seen := deletedEvents(); seen < v {
				violations.Lock()
				bad = append(bad, fmt.Sprintf("read returned v%d with only %d NodeDeleted events received", v, seen))
				violations.Unlock()
			}
		}
	}()

	for i := 1; i <= iterations; i++ {
		var ch <-chan zk.Event
		var err error
		if i%2 == 0 {
			_, _, ch, err = a.GetW("/ready")
		} else {
			_, _, ch, err = a.ExistsW("/ready")
		}
		if err != nil {
			t.Fatalf("iteration %d: watch /ready: %v", i, err)
		}
		bDone := make(chan error, 1)
		go func() {
			if err := b.Delete("/ready", -1); err != nil {
				bDone <- err
				return
			}
			if _, err := b.Set("/config", []byte(fmt.Sprintf("v%d", i)), -1); err != nil {
				bDone <- err
				return
			}
			_, err := b.Create("/ready", nil, 0, e2eOpenACL)
			bDone <- err
		}()
		select {
		case ev := <-ch:
			if ev.Type != zk.EventNodeDeleted || ev.Path != "/ready" {
				t.Fatalf("iteration %d: event %+v, want NodeDeleted /ready", i, ev)
			}
		case <-time.After(e2eWait):
			t.Fatalf("iteration %d: no NodeDeleted for /ready", i)
		}
		// Read as soon as the event is seen: old or new data are both fine,
		// but never newer than the events received.
		d, _, err := a.Get("/config")
		if err != nil {
			t.Fatalf("iteration %d: get: %v", i, err)
		}
		var v int
		if _, err := fmt.Sscanf(string(d), "v%d", &v); err != nil || v > i {
			t.Fatalf("iteration %d: read %q after the event", i, d)
		}
		if seen := deletedEvents(); seen < v {
			t.Fatalf("iteration %d: read v%d with %d NodeDeleted events", i, v, seen)
		}
		select {
		case err := <-bDone:
			if err != nil {
				t.Fatalf("iteration %d: writer: %v", i, err)
			}
		case <-time.After(e2eWait):
			t.Fatalf("iteration %d: writer stuck", i)
		}
	}
	stop.Store(true)
	select {
	case <-readerDone:
	case <-time.After(e2eWait):
		t.Fatal("reader stuck")
	}
	violations.Lock()
	defer violations.Unlock()
	for _, s := range bad {
		t.Error(s)
	}
	if n := deletedEvents(); n != iterations {
		t.Errorf("NodeDeleted events for /ready: %d, want %d", n, iterations)
	}
	t.Logf("independent reader made %d reads", reads.Load())
}

// TestE2EPersistentWatches (addWatch, opcode 106, over the raw protocol):
// the event sequences are the ones ZooKeeper 3.8 sends for the same
// operations.
func TestE2EPersistentWatches(t *testing.T) {
	addr := e2eStart(t)
	w := e2eRawSession(t, addr)
	m := e2eRawSession(t, addr)

	if err := w.call(jute.OpAddWatch, &jute.PathTypeRequest{Path: "/pw", Type: jute.AddWatchPersistent}, nil); err != jute.ErrOK {
		t.Fatalf("addWatch persistent: %v", err)
	}
	if err := w.call(jute.OpAddWatch, &jute.PathTypeRequest{Path: "/rw", Type: jute.AddWatchPersistentRecursive}, nil); err != jute.ErrOK {
		t.Fatalf("addWatch recursive: %v", err)
	}
	if err := w.call(jute.OpAddWatch, &jute.PathTypeRequest{Path: "/zz", Type: 7}, nil); err == jute.ErrOK {
		t.Errorf("addWatch with an unknown mode succeeded")
	}
	type step struct {
		op  jute.Op
		req jute.Record
	}
	steps := []step{
		{jute.OpCreate, &jute.CreateRequest{Path: "/pw", ACL: e2eWorld}},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/pw", Data: []byte("x"), Version: -1}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/pw/c", ACL: e2eWorld}},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/pw/c", Data: []byte("x"), Version: -1}}, // not watched
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/pw/c", Version: -1}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/rw", ACL: e2eWorld}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/rw/a", ACL: e2eWorld}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/rw/a/b", ACL: e2eWorld}},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/rw/a/b", Data: []byte("x"), Version: -1}},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/rw/a/b", Version: -1}},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/pw", Version: -1}},
		{jute.OpCreate, &jute.CreateRequest{Path: "/pw", ACL: e2eWorld}},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/pw", Data: []byte("y"), Version: -1}},
	}
	for i, s := range steps {
		if err := m.call(s.op, s.req, nil); err != jute.ErrOK {
			t.Fatalf("step %d (%v): %v", i, s.op, err)
		}
	}
	// A round trip on w: every event queued before it has been read.
	if err := w.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	want := []jute.WatcherEvent{
		{Type: jute.EventNodeCreated, Path: "/pw"},
		{Type: jute.EventNodeDataChanged, Path: "/pw"},
		{Type: jute.EventNodeChildrenChanged, Path: "/pw"},
		{Type: jute.EventNodeChildrenChanged, Path: "/pw"},
		{Type: jute.EventNodeCreated, Path: "/rw"},
		{Type: jute.EventNodeCreated, Path: "/rw/a"},
		{Type: jute.EventNodeCreated, Path: "/rw/a/b"},
		{Type: jute.EventNodeDataChanged, Path: "/rw/a/b"},
		{Type: jute.EventNodeDeleted, Path: "/rw/a/b"},
		{Type: jute.EventNodeDeleted, Path: "/pw"},
		{Type: jute.EventNodeCreated, Path: "/pw"},
		{Type: jute.EventNodeDataChanged, Path: "/pw"},
	}
	got := w.events
	if len(got) != len(want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Path != want[i].Path || got[i].State != jute.StateSyncConnected {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestE2ECheckAndRemoveWatches covers checkWatches (17) and removeWatches
// (18) for standard watches over the raw protocol, with the answers of
// ZooKeeper 3.8. Removing a watch sends no notification from the server.
func TestE2ECheckAndRemoveWatches(t *testing.T) {
	addr := e2eStart(t)
	w := e2eRawSession(t, addr)
	m := e2eRawSession(t, addr)
	if err := m.call(jute.OpCreate, &jute.CreateRequest{Path: "/x", ACL: e2eWorld}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := w.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/x", Watch: true}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := w.call(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/x", Watch: true}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := w.call(jute.OpExists, &jute.PathWatchRequest{Path: "/y", Watch: true}, nil); err != jute.ErrNoNode {
		t.Fatal(err)
	}
	check := func(path string, typ int32, want jute.Err) {
		t.Helper()
		if err := w.call(jute.OpCheckWatches, &jute.PathTypeRequest{Path: path, Type: typ}, nil); err != want {
			t.Errorf("checkWatches(%s, %d): %v, want %v", path, typ, err, want)
		}
	}
	remove := func(path string, typ int32, want jute.Err) {
		t.Helper()
		if err := w.call(jute.OpRemoveWatches, &jute.PathTypeRequest{Path: path, Type: typ}, nil); err != want {
			t.Errorf("removeWatches(%s, %d): %v, want %v", path, typ, err, want)
		}
	}
	check("/x", jute.WatcherData, jute.ErrOK)
	check("/x", jute.WatcherChildren, jute.ErrOK)
	check("/x", jute.WatcherAny, jute.ErrOK)
	check("/y", jute.WatcherData, jute.ErrOK) // an exists watch on a missing node is a data watch
	check("/nope", jute.WatcherAny, jute.ErrNoWatcher)
	// (checkWatches from a session without the watch is not checked:
	// ZooKeeper 3.8 answers OK when any session watches the path.)
	if err := m.call(jute.OpRemoveWatches, &jute.PathTypeRequest{Path: "/x", Type: jute.WatcherData}, nil); err != jute.ErrNoWatcher {
		t.Errorf("removeWatches from another session: %v, want NoWatcher", err)
	}
	remove("/x", jute.WatcherData, jute.ErrOK)
	check("/x", jute.WatcherData, jute.ErrNoWatcher)
	check("/x", jute.WatcherChildren, jute.ErrOK)
	remove("/x", jute.WatcherData, jute.ErrNoWatcher)
	remove("/x", jute.WatcherAny, jute.ErrOK)
	check("/x", jute.WatcherAny, jute.ErrNoWatcher)

	if err := m.call(jute.OpSetData, &jute.SetDataRequest{Path: "/x", Data: []byte("1"), Version: -1}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := m.call(jute.OpCreate, &jute.CreateRequest{Path: "/x/c", ACL: e2eWorld}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := m.call(jute.OpCreate, &jute.CreateRequest{Path: "/y", ACL: e2eWorld}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if err := w.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	if len(w.events) != 1 || w.events[0].Type != jute.EventNodeCreated || w.events[0].Path != "/y" {
		t.Errorf("events after removing the watches on /x: %+v, want only NodeCreated /y", w.events)
	}
}
