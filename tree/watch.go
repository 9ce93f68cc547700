package tree

import (
	"cmp"
	"slices"
	"sync"

	"zkd/netio/jute"
)

// WatcherID names whoever registered a watch: netio uses one id per client
// connection, so a watcher's events go out on its connection in order.
type WatcherID uint64

// Event is one fired watch: the caller delivers it to Watcher.
type Event struct {
	Watcher WatcherID
	Type    jute.EventType
	Path    string
	// ACL is the ACL of the node the event is about (the parent's for
	// NodeChildrenChanged). The caller delivers the event only to a
	// watcher with READ on it, as ZooKeeper does since CVE-2024-23944.
	ACL []jute.ACL
}

// WatchMode is how a registered watch behaves when it fires.
type WatchMode uint8

const (
	// WatchStandard fires once, for an event on its exact path.
	WatchStandard WatchMode = iota
	// WatchPersistent stays after firing; exact path only.
	WatchPersistent
	// WatchRecursive stays after firing and fires for the path and every
	// node below it, except NodeChildrenChanged.
	WatchRecursive
)

// watchTable is ZooKeeper's WatchManager: watchers by path, paths by
// watcher, and one mode per (watcher, path); the last registration wins.
type watchTable struct {
	byPath    map[string]map[WatcherID]WatchMode
	byWatcher map[WatcherID]map[string]struct{}
	recursive int // number of recursive registrations: gates the parent walk
}

func newWatchTable() watchTable {
	return watchTable{
		byPath:    make(map[string]map[WatcherID]WatchMode),
		byWatcher: make(map[WatcherID]map[string]struct{}),
	}
}

func (t *watchTable) add(path string, w WatcherID, mode WatchMode) {
	ws := t.byPath[path]
	if ws == nil {
		ws = make(map[WatcherID]WatchMode, 1)
		t.byPath[path] = ws
	}
	if old, ok := ws[w]; ok && old == WatchRecursive {
		t.recursive--
	}
	ws[w] = mode
	if mode == WatchRecursive {
		t.recursive++
	}
	ps := t.byWatcher[w]
	if ps == nil {
		ps = make(map[string]struct{}, 1)
		t.byWatcher[w] = ps
	}
	ps[path] = struct{}{}
}

func (t *watchTable) remove(path string, w WatcherID) bool {
	ws := t.byPath[path]
	mode, ok := ws[w]
	if !ok {
		return false
	}
	if mode == WatchRecursive {
		t.recursive--
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(t.byPath, path)
	}
	if ps := t.byWatcher[w]; ps != nil {
		delete(ps, path)
		if len(ps) == 0 {
			delete(t.byWatcher, w)
		}
	}
	return true
}

func (t *watchTable) has(path string, w WatcherID, match func(WatchMode) bool) bool {
	mode, ok := t.byPath[path][w]
	return ok && match(mode)
}

// trigger fires the watches for an event on path, as ZooKeeper 3.8's
// WatchManager.triggerWatch: standard and persistent watches on path
// itself, recursive watches on path and (when the table holds any) on every
// ancestor, except that recursive watches ignore NodeChildrenChanged.
// Standard watches go once fired. It appends one event per fired watcher
// not in suppress, in watcher order, and returns the fired set (suppressed
// watchers included, as ZooKeeper's WatcherOrBitSet), nil when empty. It
// allocates nothing when no watch fires.
func (t *watchTable) trigger(path string, typ jute.EventType, suppress map[WatcherID]struct{}, out []Event) ([]Event, map[WatcherID]struct{}) {
	var fired map[WatcherID]struct{}
	at := path
	exact := true
	for {
		for w, mode := range t.byPath[at] {
			hit := false
			switch {
			case mode == WatchRecursive:
				hit = typ != jute.EventNodeChildrenChanged
			case exact:
				hit = true
				if mode == WatchStandard {
					t.remove(at, w) // deleting during range is allowed
				}
			}
			if hit {
				if fired == nil {
					fired = make(map[WatcherID]struct{})
				}
				fired[w] = struct{}{}
			}
		}
		if t.recursive == 0 || at == "/" {
			break
		}
		at, _ = SplitPath(at)
		exact = false
	}
	// Deterministic order among watchers keeps tests and replicas stable.
	start := len(out)
	for w := range fired {
		if _, skip := suppress[w]; !skip {
			out = append(out, Event{Watcher: w, Type: typ, Path: path})
		}
	}
	slices.SortFunc(out[start:], func(a, b Event) int { return cmp.Compare(a.Watcher, b.Watcher) })
	return out, fired
}

// Watches holds the data and child watch tables. Its own mutex lets reads
// on many goroutines register watches while Apply fires them; Apply's
// caller must still exclude reads while it applies (see Tree).
type Watches struct {
	mu    sync.Mutex
	data  watchTable
	child watchTable
}

func newWatches() *Watches {
	return &Watches{data: newWatchTable(), child: newWatchTable()}
}

// AddData registers a data watch (getData, exists).
func (ws *Watches) AddData(path string, w WatcherID) {
	ws.mu.Lock()
	ws.data.add(path, w, WatchStandard)
	ws.mu.Unlock()
}

// AddChild registers a child watch (getChildren).
func (ws *Watches) AddChild(path string, w WatcherID) {
	ws.mu.Lock()
	ws.child.add(path, w, WatchStandard)
	ws.mu.Unlock()
}

// AddPersistent registers addWatch. Like ZooKeeper 3.8's DataTree.addWatch
// it puts the mode in both tables, recursive included: the child table's
// recursive entry never fires NodeChildrenChanged, but it does fire
// NodeDeleted for descendants if the data table's entry was since replaced
// by a standard watch (one mode per watcher and path and table: the last
// registration wins, in either direction).
func (ws *Watches) AddPersistent(path string, w WatcherID, recursive bool) {
	mode := WatchPersistent
	if recursive {
		mode = WatchRecursive
	}
	ws.mu.Lock()
	ws.data.add(path, w, mode)
	ws.child.add(path, w, mode)
	ws.mu.Unlock()
}

// RemoveWatcher drops every watch of w (its connection closed).
func (ws *Watches) RemoveWatcher(w WatcherID) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, t := range []*watchTable{&ws.data, &ws.child} {
		for p := range t.byWatcher[w] {
			t.remove(p, w)
		}
	}
}

func anyMode(WatchMode) bool        { return true }
func isPersistent(m WatchMode) bool { return m == WatchPersistent }
func isRecursive(m WatchMode) bool  { return m == WatchRecursive }

// selector is one table and the modes a watcher type names in it.
type selector struct {
	t     *watchTable
	match func(WatchMode) bool
}

// selectors returns the tables and modes a watcher type of checkWatches or
// removeWatches names, or nil for an unknown type.
//
// Types 1-3 are ZooKeeper 3.8's WatcherType, and as there they ignore the
// mode: Children is the child table, Data the data table, Any both, so
// removeWatches(Any) is how a 3.8 client drops a persistent watch. Types 4
// and 5 (Persistent, PersistentRecursive) arrived in ZooKeeper 3.9; they
// match their mode in both tables. ValidWatcherType says which types a 3.8
// server accepts.
func (ws *Watches) selectors(typ int32) []selector {
	switch typ {
	case jute.WatcherChildren:
		return []selector{{&ws.child, anyMode}}
	case jute.WatcherData:
		return []selector{{&ws.data, anyMode}}
	case jute.WatcherAny:
		return []selector{{&ws.child, anyMode}, {&ws.data, anyMode}}
	case jute.WatcherPersistent:
		return []selector{{&ws.child, isPersistent}, {&ws.data, isPersistent}}
	case jute.WatcherPersistentRecursive:
		return []selector{{&ws.child, isRecursive}, {&ws.data, isRecursive}}
	}
	return nil
}

// ValidWatcherType reports whether typ is a WatcherType of ZooKeeper 3.8:
// Children (1), Data (2) or Any (3). ZooKeeper 3.8 fails any other type
// (3.9's Persistent and PersistentRecursive included) with
// MarshallingError; zkd answers BadArguments there (see DESIGN.md). Check
// and Remove also implement types 4 and 5, for a 3.9-compatible mode.
func ValidWatcherType(typ int32) bool {
	return typ >= jute.WatcherChildren && typ <= jute.WatcherAny
}

// Check reports whether w has a watch of type typ on path (checkWatches).
// Only the exact path counts: a recursive watch on an ancestor does not.
// (ZooKeeper 3.8's containsWatcher answers true when any watcher at all
// watches path; that is a defect we do not copy.)
func (ws *Watches) Check(path string, w WatcherID, typ int32) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, s := range ws.selectors(typ) {
		if s.t.has(path, w, s.match) {
			return true
		}
	}
	return false
}

// Remove drops w's watches of type typ on path (removeWatches) and reports
// whether there were any.
func (ws *Watches) Remove(path string, w WatcherID, typ int32) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	removed := false
	for _, s := range ws.selectors(typ) {
		if s.t.has(path, w, s.match) {
			s.t.remove(path, w)
			removed = true
		}
	}
	return removed
}

// fire runs one trigger on the data or child table.
func (ws *Watches) fire(child bool, path string, typ jute.EventType, suppress map[WatcherID]struct{}, out []Event) ([]Event, map[WatcherID]struct{}) {
	t := &ws.data
	if child {
		t = &ws.child
	}
	return t.trigger(path, typ, suppress, out)
}

// Count returns the number of watches, one per (watcher, path) in each
// table: a persistent watch counts twice, as in ZooKeeper 3.8's
// zk_watch_count (mntr), which adds its data and child tables.
func (ws *Watches) Count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	n := 0
	for _, t := range []*watchTable{&ws.data, &ws.child} {
		for _, m := range t.byPath {
			n += len(m)
		}
	}
	return n
}

// Stats returns what ZooKeeper 3.8's wchs prints: the number of watchers,
// of watched paths and of watches. Like ZooKeeper (DataTree.
// getWatchesSummary) it reads the data table only, so a getChildren watch
// does not show in it, while exists, getData and addWatch watches do. For
// mntr's zk_watch_count use Count.
func (ws *Watches) Stats() (watchers, paths, total int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, ps := range ws.data.byWatcher {
		total += len(ps)
	}
	return len(ws.data.byWatcher), len(ws.data.byPath), total
}

// ByWatcher returns, per watcher, its sorted watched paths (wchc). Like
// ZooKeeper 3.8 it reads the data table only (see Stats).
func (ws *Watches) ByWatcher() map[WatcherID][]string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make(map[WatcherID][]string, len(ws.data.byWatcher))
	for w, ps := range ws.data.byWatcher {
		list := make([]string, 0, len(ps))
		for p := range ps {
			list = append(list, p)
		}
		slices.Sort(list)
		out[w] = list
	}
	return out
}

// ByPath returns, per path, the sorted watchers on it (wchp). Like
// ZooKeeper 3.8 it reads the data table only (see Stats).
func (ws *Watches) ByPath() map[string][]WatcherID {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make(map[string][]WatcherID, len(ws.data.byPath))
	for p, wm := range ws.data.byPath {
		list := make([]WatcherID, 0, len(wm))
		for w := range wm {
			list = append(list, w)
		}
		slices.Sort(list)
		out[p] = list
	}
	return out
}
