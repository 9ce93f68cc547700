package tree

import (
	"sort"
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

// trigger fires the watches for an event on path and appends one event per
// watcher not in suppress. It returns the watchers it fired (or would have
// fired, for suppressed ones), as ZooKeeper's triggerWatch does.
func (t *watchTable) trigger(path string, typ jute.EventType, suppress map[WatcherID]struct{}, out []Event, fired map[WatcherID]struct{}) []Event {
	at := path
	exact := true
	for {
		if ws := t.byPath[at]; ws != nil {
			for w, mode := range ws {
				switch {
				case mode == WatchRecursive:
					if typ != jute.EventNodeChildrenChanged {
						fired[w] = struct{}{}
					}
				case exact:
					fired[w] = struct{}{}
					if mode == WatchStandard {
						t.remove(at, w)
					}
				}
			}
		}
		if t.recursive == 0 || at == "/" {
			break
		}
		at, _ = SplitPath(at)
		exact = false
	}
	// Deterministic order among watchers keeps tests and digests stable.
	start := len(out)
	for w := range fired {
		if _, skip := suppress[w]; !skip {
			out = append(out, Event{Watcher: w, Type: typ, Path: path})
		}
	}
	sortEvents(out[start:])
	return out
}

func sortEvents(ev []Event) {
	if len(ev) > 1 {
		sort.Slice(ev, func(i, j int) bool { return ev[i].Watcher < ev[j].Watcher })
	}
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

// AddPersistent registers addWatch: persistent watches go in both tables,
// recursive ones only in the data table, as in ZooKeeper.
func (ws *Watches) AddPersistent(path string, w WatcherID, recursive bool) {
	ws.mu.Lock()
	if recursive {
		ws.data.add(path, w, WatchRecursive)
	} else {
		ws.data.add(path, w, WatchPersistent)
		ws.child.add(path, w, WatchPersistent)
	}
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

func isStandard(m WatchMode) bool   { return m == WatchStandard }
func isPersistent(m WatchMode) bool { return m == WatchPersistent }
func isRecursive(m WatchMode) bool  { return m == WatchRecursive }

// selectors returns the (table, mode matcher) pairs a watcher type of
// checkWatches/removeWatches names, or nil for an unknown type.
func (ws *Watches) selectors(typ int32) []struct {
	t     *watchTable
	match func(WatchMode) bool
} {
	type sel = struct {
		t     *watchTable
		match func(WatchMode) bool
	}
	switch typ {
	case jute.WatcherChildren:
		return []sel{{&ws.child, isStandard}}
	case jute.WatcherData:
		return []sel{{&ws.data, isStandard}}
	case jute.WatcherAny:
		return []sel{{&ws.child, isStandard}, {&ws.data, isStandard}}
	case jute.WatcherPersistent:
		return []sel{{&ws.child, isPersistent}, {&ws.data, isPersistent}}
	case jute.WatcherPersistentRecursive:
		return []sel{{&ws.data, isRecursive}}
	}
	return nil
}

// ValidWatcherType reports whether typ is a WatcherType.
func ValidWatcherType(typ int32) bool {
	return typ >= jute.WatcherChildren && typ <= jute.WatcherPersistentRecursive
}

// Check reports whether w has a watch of type typ on path (checkWatches).
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
	fired := make(map[WatcherID]struct{})
	out = t.trigger(path, typ, suppress, out, fired)
	return out, fired
}

// Stats returns the number of connections with watches, the number of
// watched paths, and the total number of watches (for wchs and mntr).
func (ws *Watches) Stats() (watchers, paths, total int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	seen := make(map[WatcherID]struct{})
	for _, t := range []*watchTable{&ws.data, &ws.child} {
		for w, ps := range t.byWatcher {
			seen[w] = struct{}{}
			total += len(ps)
		}
		paths += len(t.byPath)
	}
	return len(seen), paths, total
}

// ByWatcher returns, per watcher, its sorted watched paths (wchc).
func (ws *Watches) ByWatcher() map[WatcherID][]string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make(map[WatcherID][]string)
	for _, t := range []*watchTable{&ws.data, &ws.child} {
		for w, ps := range t.byWatcher {
			for p := range ps {
				out[w] = append(out[w], p)
			}
		}
	}
	for w := range out {
		out[w] = sortUnique(out[w])
	}
	return out
}

// ByPath returns, per path, the sorted watchers on it (wchp).
func (ws *Watches) ByPath() map[string][]WatcherID {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	out := make(map[string][]WatcherID)
	seen := make(map[string]map[WatcherID]struct{})
	for _, t := range []*watchTable{&ws.data, &ws.child} {
		for p, wm := range t.byPath {
			if seen[p] == nil {
				seen[p] = make(map[WatcherID]struct{})
			}
			for w := range wm {
				if _, ok := seen[p][w]; !ok {
					seen[p][w] = struct{}{}
					out[p] = append(out[p], w)
				}
			}
		}
	}
	for p := range out {
		sort.Slice(out[p], func(i, j int) bool { return out[p][i] < out[p][j] })
	}
	return out
}

func sortUnique(s []string) []string {
	sort.Strings(s)
	j := 0
	for i := range s {
		if i == 0 || s[i] != s[j-1] {
			s[j] = s[i]
			j++
		}
	}
	return s[:j]
}
