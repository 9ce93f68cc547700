package netio_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/broadcast"
	"zkd/broadcast/replica"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
)

// Ensemble tests: three in-process servers replicating through Zab, with
// go-zookeeper clients on different servers.

const ensembleWait = 15 * time.Second

func startTestEnsemble(t *testing.T, n int) (*netiotest.Ensemble, int) {
	t.Helper()
	if e2eReference() {
		t.Skip("ensemble tests run against zkd only")
	}
	e := netiotest.StartEnsemble(t, n, netio.Config{
		TickTime: e2eTick, ExtendedTypes: true, FourLetterWords: []string{"*"},
		MaxSessionTimeout: 4 * time.Second,
	})
	leader := e.WaitServing(ensembleWait)
	if leader < 0 {
		t.Fatalf("no established leader serving within %v", ensembleWait)
	}
	return e, leader
}

// followerIndexes lists the members other than leader.
func followerIndexes(e *netiotest.Ensemble, leader int) []int {
	var out []int
	for i := range e.Members {
		if i != leader {
			out = append(out, i)
		}
	}
	return out
}

func TestEnsembleWritesReachEveryServer(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	fs := followerIndexes(e, leader)
	a := e2eConnect(t, e.Members[fs[0]].Addr)
	b := e2eConnect(t, e.Members[fs[1]].Addr)
	c := e2eConnect(t, e.Members[leader].Addr)

	// A write through a follower is answered once committed; a sync on
	// another server then shows it there.
	if _, err := a.Create("/a", []byte("one"), 0, e2eOpenACL); err != nil {
		t.Fatalf("create through a follower: %v", err)
	}
	for name, cl := range map[string]*e2eClient{"other follower": b, "leader": c} {
		if _, err := cl.Sync("/a"); err != nil {
			t.Fatalf("sync on %s: %v", name, err)
		}
		data, st, err := cl.Get("/a")
		if err != nil || string(data) != "one" || st.Version != 0 {
			t.Fatalf("get on %s after sync: %q %+v %v", name, data, st, err)
		}
	}
	// Conditional updates are checked by the leader, whoever sends them.
	if _, err := b.Set("/a", []byte("two"), 0); err != nil {
		t.Fatalf("set version 0: %v", err)
	}
	if _, err := c.Set("/a", []byte("three"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("stale set: want ErrBadVersion, got %v", err)
	}
	// A session's reads follow its own writes (FIFO), on a follower.
	if _, err := a.Set("/a", []byte("four"), 1); err != nil {
		t.Fatal(err)
	}
	if data, _, err := a.Get("/a"); err != nil || string(data) != "four" {
		t.Fatalf("read after own write on a follower: %q %v", data, err)
	}

	// A watch set on one server fires for a change made through another.
	ok, _, ch, err := a.ExistsW("/w")
	if err != nil || ok {
		t.Fatalf("exists /w: %v %v", ok, err)
	}
	if _, err := c.Create("/w", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeCreated || ev.Path != "/w" {
			t.Fatalf("watch event %+v", ev)
		}
	case <-time.After(e2eWait):
		t.Fatal("no watch event on a follower for a create through the leader")
	}

	// Sequential names stay unique across servers.
	seen := map[string]bool{}
	for i := range 30 {
		cl := []*e2eClient{a, b, c}[i%3]
		p, err := cl.Create("/s-", nil, zk.FlagSequence, e2eOpenACL)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("sequential name %s given twice", p)
		}
		seen[p] = true
	}
	// A multi through a follower: all or nothing.
	_, err = b.Multi(&zk.CreateRequest{Path: "/m1", Acl: e2eOpenACL}, &zk.CheckVersionRequest{Path: "/a", Version: 99})
	if err == nil {
		t.Fatal("multi with a failing check succeeded")
	}
	if _, err := c.Sync("/"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := c.Exists("/m1"); ok {
		t.Fatal("a failed multi left /m1 behind")
	}

	// Every server ends with the same tree.
	for _, cl := range []*e2eClient{a, b, c} {
		if _, err := cl.Sync("/"); err != nil {
			t.Fatal(err)
		}
	}
	want := childrenOf(t, a, "/")
	for _, cl := range []*e2eClient{b, c} {
		if got := childrenOf(t, cl, "/"); !slices.Equal(got, want) {
			t.Fatalf("children differ between servers:\n%v\n%v", got, want)
		}
	}
	for _, m := range e.Members {
		if mode := e2eFourLetter(t, m.Addr, "srvr"); !containsLine(mode, "Mode: leader") && !containsLine(mode, "Mode: follower") {
			t.Fatalf("srvr on %s: %s", m.Addr, mode)
		}
	}
}

func childrenOf(t *testing.T, c *e2eClient, path string) []string {
	t.Helper()
	kids, _, err := c.Children(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kids)
	return kids
}

func containsLine(s, line string) bool {
	for _, l := range splitLines(s) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// A session lives in the ensemble, not in one server: the leader expires
// a session whose client went away from a follower, and every server
// drops its ephemerals; a live session moves to another server.
func TestEnsembleSessions(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	fs := followerIndexes(e, leader)
	watcher := e2eConnect(t, e.Members[leader].Addr)

	// A raw session on a follower creates an ephemeral, then its
	// connection drops without closeSession.
	raw := e2eRawSession(t, e.Members[fs[0]].Addr)
	if err := raw.call(jute.OpCreate, &jute.CreateRequest{Path: "/eph", ACL: []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}, Flags: jute.ModeEphemeral}, &jute.PathResponse{}); err != jute.ErrOK {
		t.Fatalf("create ephemeral: %v", err)
	}
	if _, err := watcher.Sync("/eph"); err != nil {
		t.Fatal(err)
	}
	ok, _, ch, err := watcher.ExistsW("/eph")
	if err != nil || !ok {
		t.Fatalf("ephemeral not on the leader: %v %v", ok, err)
	}
	// The session must outlive a quiet stretch shorter than its timeout
	// while its client still pings (here: the raw client does not, so
	// keep it below the timeout), then expire after it goes.
	_ = raw.c.Close()
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(e2eSessionTimeout + 3*time.Second):
		t.Fatal("the leader did not expire a session whose client left a follower")
	}

	// go-zookeeper moves its session to another server when its server
	// goes; the ephemeral it made survives the move.
	moving := connectMany(t, []string{e.Members[fs[1]].Addr, e.Members[leader].Addr})
	if _, err := moving.Create("/mine", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	sid := moving.SessionID()
	e.Stop(fs[1])
	deadline := time.Now().Add(ensembleWait)
	for {
		if ok, _, err := moving.Exists("/mine"); err == nil && ok && moving.SessionID() == sid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session did not move to the leader with its ephemeral")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectMany opens a go-zookeeper session over several servers.
func connectMany(t *testing.T, addrs []string) *zk.Conn {
	t.Helper()
	c, evs, err := zk.Connect(addrs, e2eSessionTimeout, zk.WithLogger(&e2eLog{}), zk.WithDialer(net.DialTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	deadline := time.After(ensembleWait)
	for {
		select {
		case ev := <-evs:
			if ev.State == zk.StateHasSession {
				go func() {
					for range evs {
					}
				}()
				return c
			}
		case <-deadline:
			t.Fatal("no session")
		}
	}
}

// The leader goes; the others elect a new one and keep every committed
// write; the old leader comes back and catches up.
func TestEnsembleLeaderLoss(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	c := connectMany(t, e.Addrs())
	for i := range 50 {
		if _, err := c.Create(fmt.Sprintf("/k%02d", i), []byte{byte(i)}, 0, e2eOpenACL); err != nil {
			t.Fatal(err)
		}
	}
	e.Stop(leader)
	next := e.WaitServing(ensembleWait)
	if next < 0 || next == leader {
		t.Fatalf("no new leader (got %d)", next)
	}
	// A sync before any write of the new epoch is answered: it waits for
	// the history the new leader took over, not for a write to come. (The
	// session moves without a transaction; a new one would write.)
	syncDeadline := time.Now().Add(ensembleWait)
	for {
		_, err := c.Sync("/")
		if err == nil {
			break
		}
		if time.Now().After(syncDeadline) {
			t.Fatalf("sync before the new epoch's first write: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline := time.Now().Add(ensembleWait)
	for i := 50; i < 100; i++ {
		for {
			_, err := c.Create(fmt.Sprintf("/k%02d", i), []byte{byte(i)}, 0, e2eOpenACL)
			if err == nil || errors.Is(err, zk.ErrNodeExists) {
				break // NodeExists: a retry of a create that had committed
			}
			if time.Now().After(deadline) {
				t.Fatalf("create after leader loss: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.Start(leader)
	if e.WaitServing(ensembleWait) < 0 {
		t.Fatal("the old leader did not rejoin")
	}
	back := e2eConnect(t, e.Members[leader].Addr)
	if _, err := back.Sync("/"); err != nil {
		t.Fatal(err)
	}
	kids := childrenOf(t, back, "/")
	var ks []string
	for _, k := range kids {
		if len(k) == 3 && k[0] == 'k' {
			ks = append(ks, k)
		}
	}
	if len(ks) != 100 {
		t.Fatalf("the rejoined server holds %d of 100 nodes: %v", len(ks), ks)
	}
	for i := range 100 {
		data, _, err := back.Get(fmt.Sprintf("/k%02d", i))
		if err != nil || len(data) != 1 || data[0] != byte(i) {
			t.Fatalf("/k%02d on the rejoined server: %v %v", i, data, err)
		}
	}
}

// A member that comes back after the others compacted their logs past
// its own gets the leader's snapshot (SNAP) and serves the same tree.
func TestEnsembleSnapshotSync(t *testing.T) {
	if e2eReference() {
		t.Skip("ensemble tests run against zkd only")
	}
	for _, tc := range []struct {
		name string
		// stored: members keep fuzzy snapshots every ~40 entries and the
		// leader sends its newest; otherwise it encodes its tree.
		stored bool
		tune   func(*broadcast.EnsembleConfig)
	}{
		{"encoded on demand", false, func(c *broadcast.EnsembleConfig) { c.CompactEvery, c.CompactKeep = 50, 10 }},
		{"newest stored snapshot", true, func(c *broadcast.EnsembleConfig) {
			c.Snapshots, c.SnapCount = c.Replica.Storage.(*replica.MemStorage), 40
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := netiotest.StartEnsemble(t, 3, netio.Config{TickTime: e2eTick, MaxSessionTimeout: 4 * time.Second}, tc.tune)
			checkSnapshotSync(t, e, tc.stored)
		})
	}
}

func checkSnapshotSync(t *testing.T, e *netiotest.Ensemble, useStored bool) {
	leader := e.WaitServing(ensembleWait)
	if leader < 0 {
		t.Fatal("no leader")
	}
	lagging := (leader + 1) % 3
	e.Stop(lagging)
	c := e2eConnect(t, e.Members[leader].Addr)
	for i := range 300 {
		if _, err := c.Create(fmt.Sprintf("/n%03d", i), []byte{byte(i)}, 0, e2eOpenACL); err != nil {
			t.Fatal(err)
		}
	}
	e.Start(lagging)
	if e.WaitServing(ensembleWait) < 0 {
		t.Fatal("the lagging member did not rejoin")
	}
	back := e2eConnect(t, e.Members[lagging].Addr)
	if _, err := back.Sync("/"); err != nil {
		t.Fatal(err)
	}
	if got, want := len(childrenOf(t, back, "/")), len(childrenOf(t, c, "/")); got != want || got < 300 {
		t.Fatalf("the rejoined member has %d children of /, the leader %d", got, want)
	}
	for _, i := range []int{0, 150, 299} {
		data, _, err := back.Get(fmt.Sprintf("/n%03d", i))
		if err != nil || len(data) != 1 || data[0] != byte(i) {
			t.Fatalf("/n%03d on the rejoined member: %v %v", i, data, err)
		}
	}
	installed := e.Members[lagging].Storage().Installed()
	saved := e.Members[leader].Storage().Saved()
	t.Logf("installed %v; the leader saved %v", installed, saved)
	if len(installed) == 0 {
		t.Fatal("the lagging member caught up without a SNAP")
	}
	if useStored && !slices.Contains(saved, installed[len(installed)-1]) {
		// A fresh encoding sits at the leader's last zxid, which is
		// rarely where it last snapshotted.
		t.Fatalf("installed snapshot %v is none of the leader's stored ones %v", installed[len(installed)-1], saved)
	}
	// Writes go on through it after the SNAP.
	if _, err := back.Create("/after", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
}

// A client whose session was created through one server reconnects at
// once to another server that has not applied the createSession yet (its
// log writes are stalled). That server must ask the leader rather than
// call the session expired; with a newer zxid seen than it has applied,
// it must catch up rather than refuse.
func TestEnsembleReconnectToLaggingServer(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	fs := followerIndexes(e, leader)
	lagging := e.Members[fs[1]]

	for _, tc := range []struct {
		name     string
		seenZxid bool // the client did a write first, so it has seen a zxid
	}{{"fresh session", false}, {"after a write", true}} {
		t.Run(tc.name, func(t *testing.T) {
			release := lagging.StallStorage()
			defer release()
			origin := e2eRawSession(t, e.Members[fs[0]].Addr)
			var seen int64
			if tc.seenZxid {
				path := "/reconnect-" + fmt.Sprint(origin.sessionID&0xffff)
				var rsp jute.PathResponse
				if err := origin.call(jute.OpCreate, &jute.CreateRequest{Path: path, ACL: e2eRawOpenACL}, &rsp); err != jute.ErrOK {
					t.Fatalf("create: %v", err)
				}
				seen = origin.lastZxid
				if seen == 0 {
					t.Fatal("the create's reply carried no zxid")
				}
			}
			_ = origin.c.Close()

			moved := e2eRawDial(t, lagging.Addr)
			type result struct {
				rsp jute.ConnectResponse
				err error
			}
			done := make(chan result, 1)
			go func() {
				rsp, err := moved.connect(jute.ConnectRequest{
					TimeOut: int32(e2eSessionTimeout / time.Millisecond), SessionID: origin.sessionID,
					Passwd: origin.passwd, LastZxidSeen: seen,
				})
				done <- result{rsp, err}
			}()
			// The lagging server must not answer while it cannot know.
			select {
			case r := <-done:
				t.Fatalf("answered before catching up: %+v %v", r.rsp, r.err)
			case <-time.After(300 * time.Millisecond):
			}
			release()
			var r result
			select {
			case r = <-done:
			case <-time.After(ensembleWait):
				t.Fatal("no connect response after the server caught up")
			}
			if r.err != nil {
				t.Fatalf("connect: %v", r.err)
			}
			if r.rsp.SessionID != origin.sessionID || r.rsp.TimeOut <= 0 {
				t.Fatalf("session 0x%x refused after it moved: %+v", origin.sessionID, r.rsp)
			}
			moved.sessionID = origin.sessionID
			var st jute.Stat
			if err := moved.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, &st); err != jute.ErrOK {
				t.Fatalf("exists on the moved session: %v", err)
			}
		})
	}

	// A session that never existed is still expired, after the check.
	bogus := e2eRawDial(t, lagging.Addr)
	rsp, err := bogus.connect(jute.ConnectRequest{TimeOut: 4000, SessionID: 0x7eadbeef, Passwd: make([]byte, 16)})
	if err != nil {
		t.Fatal(err)
	}
	if rsp.TimeOut != 0 || rsp.SessionID != 0 {
		t.Fatalf("unknown session accepted: %+v", rsp)
	}
}

// The leader's mntr counts its followers as ZooKeeper's does
// (zk_followers, zk_synced_followers); a follower's prints neither.
func TestEnsembleMntrFollowers(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	fs := followerIndexes(e, leader)
	stat := func(i int, key string) (string, bool) {
		for _, line := range strings.Split(e2eFourLetter(t, e.Members[i].Addr, "mntr"), "\n") {
			if k, v, ok := strings.Cut(line, "\t"); ok && k == key {
				return v, true
			}
		}
		return "", false
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(ensembleWait); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s within %v", what, ensembleWait)
			}
		}
	}
	is := func(i int, key, want string) func() bool {
		return func() bool { v, _ := stat(i, key); return v == want }
	}
	waitFor("leader reporting 2 synced followers", func() bool {
		return is(leader, "zk_followers", "2")() && is(leader, "zk_synced_followers", "2")()
	})
	if _, ok := stat(fs[0], "zk_followers"); ok {
		t.Error("a follower reports zk_followers")
	}
	e.Stop(fs[0])
	waitFor("leader reporting 1 synced follower after one stopped", is(leader, "zk_synced_followers", "1"))
	waitFor("leader forgetting the stopped follower", is(leader, "zk_followers", "1"))
	e.Start(fs[0])
	waitFor("leader reporting 2 synced followers after the restart", is(leader, "zk_synced_followers", "2"))
}

// A leader cut off from both followers stops serving within syncLimit and
// never acknowledges the write it took but could not replicate; the other
// two elect a leader and go on. Once the links heal, the old leader
// rejoins as a follower: it has every write made meanwhile and not the
// one it took alone (that proposal is truncated).
func TestEnsemblePartitionedLeader(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	fs := followerIndexes(e, leader)
	cut := e2eRawSession(t, e.Members[leader].Addr)

	e.Isolate(leader)
	cut.mustWrite(e2eRequest(1, jute.OpCreate, &jute.CreateRequest{Path: "/alone", ACL: e2eRawOpenACL}))
	if h, _, err := cut.readReply(ensembleWait); err == nil {
		t.Fatalf("the isolated leader answered a write: %+v", h)
	}

	mode := func(i int) string {
		if s := e.Members[i].Server(); s != nil {
			return s.Mode()
		}
		return "stopped"
	}
	deadline := time.Now().Add(ensembleWait)
	for !(mode(leader) == "looking" && slices.Contains([]string{mode(fs[0]), mode(fs[1])}, "leader") &&
		slices.Contains([]string{mode(fs[0]), mode(fs[1])}, "follower")) {
		if time.Now().After(deadline) {
			t.Fatalf("no new leader with the old one looking: modes %s %s %s", mode(0), mode(1), mode(2))
		}
		time.Sleep(10 * time.Millisecond)
	}
	refused := e2eRawDial(t, e.Members[leader].Addr)
	refused.mustWrite(e2eFrame(&jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)}))
	refused.expectClosed("a connect to the isolated old leader")

	during := e2eConnect(t, e.Members[fs[0]].Addr)
	if _, err := during.Create("/during", []byte("majority"), 0, e2eOpenACL); err != nil {
		t.Fatalf("write on the majority side: %v", err)
	}

	e.Heal()
	if e.WaitServing(ensembleWait) < 0 {
		t.Fatal("the ensemble did not serve again after the partition healed")
	}
	back := e2eConnect(t, e.Members[leader].Addr)
	if _, err := back.Sync("/"); err != nil {
		t.Fatal(err)
	}
	if data, _, err := back.Get("/during"); err != nil || string(data) != "majority" {
		t.Fatalf("/during on the old leader after healing: %q %v", data, err)
	}
	for _, i := range []int{leader, fs[0], fs[1]} {
		c := e2eConnect(t, e.Members[i].Addr)
		if _, err := c.Sync("/"); err != nil {
			t.Fatal(err)
		}
		if ok, _, err := c.Exists("/alone"); err != nil || ok {
			t.Fatalf("member %d: the unacknowledged write exists=%v (%v)", i, ok, err)
		}
	}
}
