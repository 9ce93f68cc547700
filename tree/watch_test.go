package tree

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"zkd/netio/jute"
)

// events runs one request and returns the events it fired, as text.
func (e *env) events(r Request) string {
	e.t.Helper()
	_, res, ev := e.do(r)
	if res.Err != jute.ErrOK {
		e.t.Fatalf("%v: %v", r.Op, res.Err)
	}
	return eventsString(ev)
}

func expectEvents(t *testing.T, step, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: events %q, want %q", step, got, want)
	}
}

func TestDataWatch(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "x", 0)

	// getData/exists watch on an existing node: NodeDataChanged once.
	w.AddData("/a", 1)
	expectEvents(t, "setData", e.events(setDataReq("/a", "y", -1)), "1:data:/a")
	expectEvents(t, "setData again", e.events(setDataReq("/a", "z", -1)), "")

	// A data watch ignores child changes.
	w.AddData("/a", 1)
	expectEvents(t, "child create", e.events(createReq(1, "/a/b", "", 0)), "")
	expectEvents(t, "child delete", e.events(deleteReq("/a/b", -1)), "")
	// ... and fires NodeDeleted once.
	expectEvents(t, "delete", e.events(deleteReq("/a", -1)), "1:deleted:/a")

	// exists watch on a missing node: NodeCreated once.
	w.AddData("/a", 2)
	expectEvents(t, "create", e.events(createReq(1, "/a", "", 0)), "2:created:/a")
	expectEvents(t, "delete after created", e.events(deleteReq("/a", -1)), "")
	if _, _, total := w.Stats(); total != 0 || w.Count() != 0 {
		t.Fatalf("fired watches not removed: %d %d", total, w.Count())
	}
}

func TestChildWatch(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)

	w.AddChild("/a", 1)
	expectEvents(t, "setData", e.events(setDataReq("/a", "y", -1)), "")
	expectEvents(t, "child create", e.events(createReq(1, "/a/b", "", 0)), "1:children:/a")
	expectEvents(t, "second child create", e.events(createReq(1, "/a/c", "", 0)), "")
	w.AddChild("/a", 1)
	expectEvents(t, "grandchild create", e.events(createReq(1, "/a/b/x", "", 0)), "")
	expectEvents(t, "child delete", e.events(deleteReq("/a/c", -1)), "1:children:/a")

	// NodeDeleted when the watched node itself goes.
	w.AddChild("/a/b", 1)
	expectEvents(t, "grandchild delete", e.events(deleteReq("/a/b/x", -1)), "1:children:/a/b")
	w.AddChild("/a/b", 1)
	expectEvents(t, "node delete", e.events(deleteReq("/a/b", -1)), "1:deleted:/a/b")

	// Children of "/".
	w.AddChild("/", 3)
	expectEvents(t, "top-level create", e.events(createReq(1, "/top", "", 0)), "3:children:/")
}

func TestDeleteEventsOnePerWatcher(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	e.create("/a/b", "", 0)
	// Watcher 1: data and child watch on the deleted node → one
	// NodeDeleted. Watcher 2: child watch on the parent too → NodeDeleted
	// then NodeChildrenChanged. Watcher 3: child watch on the parent only.
	w.AddData("/a/b", 1)
	w.AddChild("/a/b", 1)
	w.AddData("/a/b", 2)
	w.AddChild("/a", 2)
	w.AddChild("/a", 3)
	w.AddData("/a", 4) // the parent's data watch does not fire
	expectEvents(t, "delete", e.events(deleteReq("/a/b", -1)),
		"1:deleted:/a/b 2:deleted:/a/b 2:children:/a 3:children:/a")
	if !w.Check("/a", 4, jute.WatcherData) {
		t.Fatalf("parent's data watch consumed")
	}
}

func TestCreateEventOrder(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	w.AddData("/a/b", 9) // exists on the missing node
	w.AddChild("/a", 9)
	w.AddChild("/a", 2)
	expectEvents(t, "create", e.events(createReq(1, "/a/b", "", 0)), "9:created:/a/b 2:children:/a 9:children:/a")
}

func TestPersistentWatch(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	w.AddPersistent("/a", 1, false)
	expectEvents(t, "create", e.events(createReq(1, "/a", "", 0)), "1:created:/a")
	expectEvents(t, "setData", e.events(setDataReq("/a", "x", -1)), "1:data:/a")
	expectEvents(t, "setData again", e.events(setDataReq("/a", "y", -1)), "1:data:/a")
	expectEvents(t, "child create", e.events(createReq(1, "/a/b", "", 0)), "1:children:/a")
	expectEvents(t, "grandchild create (not recursive)", e.events(createReq(1, "/a/b/c", "", 0)), "")
	expectEvents(t, "child setData", e.events(setDataReq("/a/b", "x", -1)), "")
	expectEvents(t, "grandchild delete", e.events(deleteReq("/a/b/c", -1)), "")
	expectEvents(t, "child delete", e.events(deleteReq("/a/b", -1)), "1:children:/a")
	// Deleting the node fires one NodeDeleted (data and child tables both
	// hold the watch) and the watch stays.
	expectEvents(t, "delete", e.events(deleteReq("/a", -1)), "1:deleted:/a")
	expectEvents(t, "create again", e.events(createReq(1, "/a", "", 0)), "1:created:/a")
	if !w.Check("/a", 1, jute.WatcherPersistent) {
		t.Fatalf("persistent watch gone")
	}
}

func TestPersistentRecursiveWatch(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/other", "", 0)
	w.AddPersistent("/a", 1, true)
	expectEvents(t, "create", e.events(createReq(1, "/a", "", 0)), "1:created:/a")
	// No NodeChildrenChanged: the descendant's own events instead.
	expectEvents(t, "child create", e.events(createReq(1, "/a/b", "", 0)), "1:created:/a/b")
	expectEvents(t, "grandchild create", e.events(createReq(1, "/a/b/c", "", 0)), "1:created:/a/b/c")
	expectEvents(t, "grandchild setData", e.events(setDataReq("/a/b/c", "x", -1)), "1:data:/a/b/c")
	expectEvents(t, "setData", e.events(setDataReq("/a", "x", -1)), "1:data:/a")
	expectEvents(t, "grandchild delete", e.events(deleteReq("/a/b/c", -1)), "1:deleted:/a/b/c")
	expectEvents(t, "unrelated", e.events(createReq(1, "/other/x", "", 0)), "")
	expectEvents(t, "sibling prefix", e.events(createReq(1, "/ab", "", 0)), "")
	expectEvents(t, "child delete", e.events(deleteReq("/a/b", -1)), "1:deleted:/a/b")
	expectEvents(t, "delete", e.events(deleteReq("/a", -1)), "1:deleted:/a")
	// Still there.
	expectEvents(t, "create again", e.events(createReq(1, "/a", "", 0)), "1:created:/a")

	// A recursive watch on "/" sees everything but child lists.
	w.AddPersistent("/", 2, true)
	expectEvents(t, "under root", e.events(createReq(1, "/other/y", "", 0)), "2:created:/other/y")
	expectEvents(t, "under both", e.events(setDataReq("/a", "z", -1)), "1:data:/a 2:data:/a")

	// A standard child watch on a recursively watched path still fires.
	w.AddChild("/a", 3)
	expectEvents(t, "child with both kinds", e.events(createReq(1, "/a/n", "", 0)), "1:created:/a/n 2:created:/a/n 3:children:/a")
}

// TestWatchModeLastWins: one mode per watcher, path and table; the last
// registration wins (ZooKeeper 3.8's WatcherModeManager), downgrades
// included.
func TestWatchModeLastWins(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)

	// Persistent, then a getData watch: the data table's entry becomes
	// standard and fires once; the child table's stays persistent.
	w.AddPersistent("/a", 1, false)
	w.AddData("/a", 1)
	expectEvents(t, "setData 1", e.events(setDataReq("/a", "x", -1)), "1:data:/a")
	expectEvents(t, "setData 2", e.events(setDataReq("/a", "y", -1)), "")
	expectEvents(t, "child", e.events(createReq(1, "/a/b", "", 0)), "1:children:/a")
	expectEvents(t, "child again", e.events(deleteReq("/a/b", -1)), "1:children:/a")

	// Standard, then persistent: persistent.
	w.AddChild("/a", 2)
	w.AddPersistent("/a", 2, false)
	e.events(createReq(1, "/a/c", "", 0))
	if !w.Check("/a", 2, jute.WatcherPersistent) {
		t.Fatalf("upgraded watch consumed")
	}

	// Recursive, then a getData watch on the same path: the data table
	// holds a standard watch, the child table still the recursive one, so
	// descendants' creates and changes stop firing but their deletes
	// still do (through the child table), as in ZooKeeper 3.8.
	e.create("/r", "", 0)
	e.create("/r/x", "", 0)
	w.AddPersistent("/r", 3, true)
	w.AddData("/r", 3)
	expectEvents(t, "descendant create", e.events(createReq(1, "/r/y", "", 0)), "")
	expectEvents(t, "descendant setData", e.events(setDataReq("/r/x", "1", -1)), "")
	expectEvents(t, "descendant delete", e.events(deleteReq("/r/x", -1)), "3:deleted:/r/x")
	expectEvents(t, "setData", e.events(setDataReq("/r", "1", -1)), "3:data:/r")
	expectEvents(t, "setData again", e.events(setDataReq("/r", "2", -1)), "")
}

func TestWatchersInOrder(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	for _, id := range []WatcherID{50, 3, 7, 1000, 1} {
		w.AddData("/a", id)
		w.AddData("/a", id) // twice is once
	}
	expectEvents(t, "setData", e.events(setDataReq("/a", "x", -1)), "1:data:/a 3:data:/a 7:data:/a 50:data:/a 1000:data:/a")
}

func TestWatchEventsInMultiAndCloseSession(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.session(0x10)
	e.create("/a", "", 0)
	w.AddChild("/a", 1)
	w.AddData("/a/x", 2)
	w.AddData("/a", 3)
	expectEvents(t, "multi", e.events(multiReq(mCreate("/a/x", "", 0), mSetData("/a", "d", -1), mDelete("/a/x", -1))),
		"2:created:/a/x 1:children:/a 3:data:/a")

	// A failed multi fires nothing.
	w.AddChild("/a", 1)
	_, res, ev := e.do(multiReq(mCreate("/a/y", "", 0), mCheck("/a", 99)))
	if res.Err != jute.ErrBadVersion || len(ev) != 0 {
		t.Fatalf("failed multi: %v, events %q", res.Err, eventsString(ev))
	}

	_, res, _ = e.do(createReq(0x10, "/a/e", "", jute.ModeEphemeral))
	if res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	if w.Check("/a", 1, jute.WatcherChildren) {
		t.Fatalf("the create did not consume the child watch")
	}
	w.AddChild("/a", 1)
	w.AddData("/a/e", 4)
	expectEvents(t, "closeSession", e.events(Request{Session: 0x10, Op: jute.OpCloseSession}), "4:deleted:/a/e 1:children:/a")
}

func TestRemoveWatcher(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	w.AddData("/a", 1)
	w.AddChild("/a", 1)
	w.AddPersistent("/b", 1, false)
	w.AddPersistent("/c", 1, true)
	w.AddData("/a", 2)
	w.RemoveWatcher(1)
	w.RemoveWatcher(99) // unknown: no-op
	expectEvents(t, "setData", e.events(setDataReq("/a", "x", -1)), "2:data:/a")
	expectEvents(t, "create under recursive", e.events(createReq(1, "/c", "", 0)), "")
	if w.Count() != 0 || w.data.recursive != 0 || w.child.recursive != 0 {
		t.Fatalf("watches left: %d (recursive %d %d)", w.Count(), w.data.recursive, w.child.recursive)
	}
	if len(w.data.byWatcher)+len(w.child.byWatcher)+len(w.data.byPath)+len(w.child.byPath) != 0 {
		t.Fatalf("index entries left")
	}
}

func TestValidWatcherType(t *testing.T) {
	for typ := int32(-1); typ <= 7; typ++ {
		want := typ >= 1 && typ <= 3 // ZooKeeper 3.8's WatcherType
		if got := ValidWatcherType(typ); got != want {
			t.Errorf("ValidWatcherType(%d) = %v, want %v", typ, got, want)
		}
	}
}

// TestCheckAndRemoveWatches covers checkWatches and removeWatches by
// watcher type: 1 children, 2 data, 3 any (ZooKeeper 3.8: any mode in the
// named tables), 4 persistent and 5 persistent recursive (their mode).
func TestCheckAndRemoveWatches(t *testing.T) {
	type setup func(w *Watches)
	standardData := func(w *Watches) { w.AddData("/p", 1) }
	standardChild := func(w *Watches) { w.AddChild("/p", 1) }
	both := func(w *Watches) { w.AddData("/p", 1); w.AddChild("/p", 1) }
	persistent := func(w *Watches) { w.AddPersistent("/p", 1, false) }
	recursive := func(w *Watches) { w.AddPersistent("/p", 1, true) }
	tests := []struct {
		name  string
		setup setup
		typ   int32
		found bool
		// after Remove: which kinds of watch the watcher still has
		dataLeft, childLeft bool
	}{
		{"children/none", func(*Watches) {}, jute.WatcherChildren, false, false, false},
		{"children/data", standardData, jute.WatcherChildren, false, true, false},
		{"children/child", standardChild, jute.WatcherChildren, true, false, false},
		{"children/both", both, jute.WatcherChildren, true, true, false},
		{"children/persistent", persistent, jute.WatcherChildren, true, true, false},
		{"children/recursive", recursive, jute.WatcherChildren, true, true, false},
		{"data/child", standardChild, jute.WatcherData, false, false, true},
		{"data/data", standardData, jute.WatcherData, true, false, false},
		{"data/both", both, jute.WatcherData, true, false, true},
		{"data/persistent", persistent, jute.WatcherData, true, false, true},
		{"data/recursive", recursive, jute.WatcherData, true, false, true},
		{"any/none", func(*Watches) {}, jute.WatcherAny, false, false, false},
		{"any/data", standardData, jute.WatcherAny, true, false, false},
		{"any/child", standardChild, jute.WatcherAny, true, false, false},
		{"any/both", both, jute.WatcherAny, true, false, false},
		{"any/persistent", persistent, jute.WatcherAny, true, false, false},
		{"any/recursive", recursive, jute.WatcherAny, true, false, false},
		{"persistent/both", both, jute.WatcherPersistent, false, true, true},
		{"persistent/persistent", persistent, jute.WatcherPersistent, true, false, false},
		{"persistent/recursive", recursive, jute.WatcherPersistent, false, true, true},
		{"recursive/both", both, jute.WatcherPersistentRecursive, false, true, true},
		{"recursive/persistent", persistent, jute.WatcherPersistentRecursive, false, true, true},
		{"recursive/recursive", recursive, jute.WatcherPersistentRecursive, true, false, false},
		{"unknown", both, 6, false, true, true},
		{"zero", both, 0, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWatches()
			tc.setup(w)
			w.AddData("/p", 2) // another watcher's watch never counts
			w.AddChild("/p", 2)
			w.AddData("/q", 1) // nor another path's
			w.AddChild("/q", 1)
			if got := w.Check("/p", 1, tc.typ); got != tc.found {
				t.Fatalf("Check = %v, want %v", got, tc.found)
			}
			if got := w.Remove("/p", 1, tc.typ); got != tc.found {
				t.Fatalf("Remove = %v, want %v", got, tc.found)
			}
			if got := w.Remove("/p", 1, tc.typ); got {
				t.Fatalf("second Remove found a watch")
			}
			if got := w.data.has("/p", 1, anyMode); got != tc.dataLeft {
				t.Fatalf("data watch left: %v, want %v", got, tc.dataLeft)
			}
			if got := w.child.has("/p", 1, anyMode); got != tc.childLeft {
				t.Fatalf("child watch left: %v, want %v", got, tc.childLeft)
			}
			for _, typ := range []int32{jute.WatcherData, jute.WatcherChildren} {
				if !w.Check("/p", 2, typ) || !w.Check("/q", 1, typ) {
					t.Fatalf("other watches disturbed")
				}
			}
		})
	}
}

// TestRemovedRecursiveStopsFiring: removing a recursive watch also drops
// the ancestor walk.
func TestRemovedRecursiveStopsFiring(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	w.AddPersistent("/a", 1, true)
	if !w.Remove("/a", 1, jute.WatcherAny) {
		t.Fatal("Remove(any) found nothing")
	}
	expectEvents(t, "create", e.events(createReq(1, "/a/b", "", 0)), "")
	if w.data.recursive != 0 || w.child.recursive != 0 {
		t.Fatalf("recursive counts %d %d", w.data.recursive, w.child.recursive)
	}
}

// TestWatchReports: wchs, wchc and wchp read the data table only, as in
// ZooKeeper 3.8; Count (mntr's zk_watch_count) adds both tables.
func TestWatchReports(t *testing.T) {
	w := newWatches()
	w.AddData("/a", 1)
	w.AddData("/b", 1)
	w.AddChild("/c", 1) // invisible to wchs/wchc/wchp
	w.AddData("/a", 2)
	w.AddPersistent("/d", 3, false)
	w.AddPersistent("/e", 3, true)
	w.AddChild("/only-child", 4)

	watchers, paths, total := w.Stats()
	if watchers != 3 || paths != 4 || total != 5 {
		t.Fatalf("Stats = %d watchers, %d paths, %d watches; want 3, 4, 5", watchers, paths, total)
	}
	if got := w.Count(); got != 9 {
		t.Fatalf("Count = %d, want 9", got)
	}
	byWatcher := w.ByWatcher()
	want := map[WatcherID][]string{1: {"/a", "/b"}, 2: {"/a"}, 3: {"/d", "/e"}}
	if fmt.Sprint(byWatcher) != fmt.Sprint(want) {
		t.Fatalf("ByWatcher = %v, want %v", byWatcher, want)
	}
	byPath := w.ByPath()
	wantPath := map[string][]WatcherID{"/a": {1, 2}, "/b": {1}, "/d": {3}, "/e": {3}}
	if fmt.Sprint(byPath) != fmt.Sprint(wantPath) {
		t.Fatalf("ByPath = %v, want %v", byPath, wantPath)
	}
	// The reports are copies.
	byWatcher[1][0] = "changed"
	if w.ByWatcher()[1][0] != "/a" {
		t.Fatalf("ByWatcher shares its slices")
	}
}

// TestWatchesConcurrentWithApply: reads register and check watches on many
// goroutines while Apply fires them (run with -race).
func TestWatchesConcurrentWithApply(t *testing.T) {
	e := newEnv(t)
	w := e.tr.Watches
	e.create("/a", "", 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(id WatcherID) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				w.AddData("/a", id)
				w.AddChild("/a", id)
				if i%7 == 0 {
					w.AddPersistent("/a", id, i%2 == 0)
				}
				w.Check("/a", id, jute.WatcherAny)
				w.Stats()
				if i%11 == 0 {
					w.RemoveWatcher(id)
				}
			}
		}(WatcherID(g + 1))
	}
	for i := 0; i < 300; i++ {
		_, res, ev := e.do(setDataReq("/a", fmt.Sprint(i), -1))
		if res.Err != jute.ErrOK {
			t.Fatal(res.Err)
		}
		if !slices.IsSortedFunc(ev, func(a, b Event) int { return int(a.Watcher) - int(b.Watcher) }) {
			t.Fatalf("events out of order: %v", ev)
		}
	}
	close(stop)
	wg.Wait()
}
