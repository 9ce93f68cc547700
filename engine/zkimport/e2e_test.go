package zkimport_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"zkd/netio/loopback"

	"github.com/go-zookeeper/zk"

	"zkd/broadcast"
	"zkd/engine"
	"zkd/engine/zkimport"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/tools/refzk"
	"zkd/tree"
)

// zkNode is a node as Apache ZooKeeper served it.
type zkNode struct {
	data []byte
	stat zk.Stat
	acl  []zk.ACL
}

const (
	e2eSessionTimeout = 20 * time.Second
	e2eDigestUser     = "alice"
	e2eDigestPassword = "secret"
)

// TestImportFromZooKeeper is the end-to-end proof: Apache ZooKeeper 3.8
// (the Debian package) runs a scripted workload with a small snapCount,
// so that its data directory ends with several snapshots and logs; every
// node is read back from it; then the directory is imported and the zkd
// data directory opened as the server opens it, and every node must have
// the same data, Stat and ACL, the live sessions must be there, and a
// new write must get a zxid after the imported ones.
func TestImportFromZooKeeper(t *testing.T) {
	if !refzk.Available() {
		t.Skip("Apache ZooKeeper not installed (apt-get install zookeeper)")
	}
	cases := []struct {
		name   string
		flags  []string
		writes int // rounds of the bulk part of the workload
		suffix string
	}{
		{name: "plain", writes: 120},
		{name: "gz", flags: []string{"-Dzookeeper.snapshot.compression.method=gz"}, writes: 40, suffix: ".gz"},
		{name: "snappy", flags: []string{"-Dzookeeper.snapshot.compression.method=snappy"}, writes: 40, suffix: ".snappy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			zkDir := filepath.Join(t.TempDir(), "zookeeper")
			srv, err := refzk.Start(refzk.Options{
				Dir:      zkDir,
				Extra:    []string{"snapCount=50", "extendedTypesEnabled=true"},
				JVMFlags: append([]string{"-Xmx256m"}, tc.flags...),
			})
			if err != nil {
				t.Fatalf("starting ZooKeeper: %v", err)
			}
			stopped := false
			defer func() {
				if !stopped {
					srv.Stop()
				}
			}()
			w := runWorkload(t, srv.Addr(), tc.writes)
			v2 := filepath.Join(zkDir, "version-2")
			writeAfterLastSnapshot(t, w, v2)
			want := readAll(t, w.main)
			lastZxid := w.lastZxid
			if err := srv.Stop(); err != nil {
				t.Fatalf("stopping ZooKeeper: %v", err)
			}
			stopped = true
			w.closeAll()

			snaps, logs := countFiles(t, v2, tc.suffix)
			if snaps < 2 || logs < 2 {
				t.Fatalf("ZooKeeper left %d snapshots and %d logs; the test wants several of each", snaps, logs)
			}

			dataDir := filepath.Join(t.TempDir(), "zkd")
			res, err := zkimport.Import(zkimport.Options{ZKDir: zkDir, DataDir: dataDir})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			t.Logf("imported %s (zxid 0x%x), %d log files, %d records, %d applied, %d nodes, %d sessions, last zxid 0x%x, %d digest checks",
				res.Snapshot, res.SnapshotZxid, len(res.Logs), res.Records, res.Applied, res.Nodes, res.Sessions, res.LastZxid, res.DigestChecks)
			if !strings.HasSuffix(res.Snapshot, tc.suffix) || res.Snapshot == "" {
				t.Errorf("snapshot used %q, want a %q one", res.Snapshot, tc.suffix)
			}
			if res.Applied == 0 {
				t.Errorf("no log record applied after the snapshot; the test wants a replay")
			}
			if res.DigestChecks == 0 || res.Mismatch != nil {
				t.Errorf("digest checks %d, mismatch %+v", res.DigestChecks, res.Mismatch)
			}
			if !res.Verified {
				t.Errorf("import not verified")
			}
			if res.LastZxid < lastZxid {
				t.Errorf("imported last zxid 0x%x, ZooKeeper had reached 0x%x", res.LastZxid, lastZxid)
			}

			store, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: dataDir})
			if err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			defer store.Close()
			compareTree(t, tr, want)
			replayFromSnapshots(t, v2, tr)
			for _, id := range []int64{w.main.SessionID(), w.owner.SessionID(), w.raw} {
				if !tr.HasSession(id) {
					t.Errorf("session 0x%x (open when ZooKeeper stopped) not imported", id)
				}
			}
			if tr.HasSession(w.closed) {
				t.Errorf("closed session 0x%x imported", w.closed)
			}
			if got := tr.Ephemerals(w.owner.SessionID()); len(got) != 2 {
				t.Errorf("ephemerals of the open session: %v, want 2", got)
			}
			if !bytes.Equal(netio.SessionPassword(w.raw), w.rawPasswd) {
				t.Errorf("SessionPassword(0x%x) = %x, ZooKeeper gave %x", w.raw, netio.SessionPassword(w.raw), w.rawPasswd)
			}
			if tc.name == "plain" {
				newWrite(t, tr, store, res.LastZxid, w)
			}
		})
	}
}

// workload is what runWorkload leaves open.
type workload struct {
	main, owner *zk.Conn
	raw         int64 // a session opened on a bare connection
	rawPasswd   []byte
	rawConn     net.Conn
	closed      int64 // a session that closed with its ephemerals
	lastZxid    int64
}

func (w *workload) closeAll() {
	w.main.Close()
	w.owner.Close()
	w.rawConn.Close()
}

func connect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, ev, err := zk.Connect([]string{addr}, e2eSessionTimeout, zk.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateHasSession {
				return c
			}
		case <-deadline:
			t.Fatal("no session from ZooKeeper")
		}
	}
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// runWorkload writes every kind of node and transaction ZooKeeper logs:
// persistent, sequential, ephemeral (left open), container, TTL, setData,
// deletes, setACL with a digest ACL, multis that succeed and fail, error
// transactions, a session that closes with ephemerals. rounds sizes the
// bulk part, which also makes ZooKeeper roll snapshots and logs.
func runWorkload(t *testing.T, addr string, rounds int) *workload {
	t.Helper()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	open := zk.WorldACL(zk.PermAll)
	w := &workload{main: connect(t, addr), owner: connect(t, addr)}
	c := w.main
	must(c.AddAuth("digest", []byte(e2eDigestUser+":"+e2eDigestPassword)), "addAuth")

	_, err := c.Create("/app", []byte("application"), 0, open)
	must(err, "create /app")
	_, err = c.Create("/app/null", nil, 0, open)
	must(err, "create null data")
	_, err = c.Create("/app/empty", []byte{}, 0, open)
	must(err, "create empty data")
	_, err = c.Create("/app/queue", nil, 0, open)
	must(err, "create /app/queue")
	_, err = c.CreateContainer("/app/container", []byte("c"), zk.FlagContainer, open)
	must(err, "create container")
	_, err = c.Create("/app/container/child", []byte("keeps it"), 0, open)
	must(err, "create container child")
	_, err = c.CreateTTL("/app/ttl", []byte("t"), zk.FlagTTL, open, time.Hour)
	must(err, "create ttl")
	_, err = c.CreateTTL("/app/queue/ttl-", []byte("t"), 6, open, 2*time.Hour)
	must(err, "create sequential ttl") // flag 6: persistent sequential with TTL

	// The ephemerals of a session left open, and of one that closes.
	_, err = w.owner.Create("/app/lock", []byte("owner"), zk.FlagEphemeral, open)
	must(err, "create ephemeral")
	_, err = w.owner.Create("/app/queue/member-", nil, zk.FlagEphemeral|zk.FlagSequence, open)
	must(err, "create ephemeral sequential")
	gone := connect(t, addr)
	w.closed = gone.SessionID()
	_, err = gone.Create("/app/gone", nil, zk.FlagEphemeral, open)
	must(err, "create ephemeral to close")
	_, err = gone.Create("/app/queue/gone-", nil, zk.FlagEphemeral|zk.FlagSequence, open)
	must(err, "create ephemeral sequential to close")
	gone.Close()

	// A session on a bare connection, to see the password ZooKeeper gives.
	w.raw, w.rawPasswd, w.rawConn = rawSession(t, addr, 0, make([]byte, 16))

	// The digest ACL, set on an existing node (aversion 1).
	_, err = c.Create("/app/secure", []byte("s"), 0, open)
	must(err, "create /app/secure")
	_, err = c.SetACL("/app/secure", append(zk.DigestACL(zk.PermAll, e2eDigestUser, e2eDigestPassword), zk.WorldACL(zk.PermRead)...), 0)
	must(err, "setACL")

	// Errors are logged as error transactions.
	if _, err := c.Create("/app", nil, 0, open); err != zk.ErrNodeExists {
		t.Fatalf("create of an existing node: %v", err)
	}
	if _, err := c.Set("/app", []byte("x"), 42); err != zk.ErrBadVersion {
		t.Fatalf("setData with a bad version: %v", err)
	}

	for i := range rounds {
		p, err := c.Create("/app/queue/item-", []byte(fmt.Sprintf("item %d", i)), zk.FlagSequence, open)
		must(err, "create sequential")
		_, err = c.Set("/app", []byte(fmt.Sprintf("v%d", i)), -1)
		must(err, "setData")
		if i%3 == 0 {
			must(c.Delete(p, -1), "delete")
		}
		if i%10 == 0 {
			// A multi that succeeds and one that fails.
			_, err = c.Multi(
				&zk.CreateRequest{Path: fmt.Sprintf("/app/m%d", i), Data: []byte("m"), Acl: open},
				&zk.SetDataRequest{Path: "/app/empty", Data: []byte{}, Version: -1},
				&zk.CheckVersionRequest{Path: "/app", Version: -1},
				&zk.CreateRequest{Path: fmt.Sprintf("/app/m%d/x", i), Data: nil, Acl: open, Flags: zk.FlagSequence},
			)
			must(err, "multi")
			_, err = c.Multi(
				&zk.CreateRequest{Path: fmt.Sprintf("/app/f%d", i), Data: []byte("f"), Acl: open},
				&zk.DeleteRequest{Path: "/app/no-such-node", Version: -1},
				&zk.SetDataRequest{Path: "/app", Data: []byte("never"), Version: -1},
			)
			if err == nil {
				t.Fatal("a multi with a delete of a missing node succeeded")
			}
			if i > 0 {
				must(c.Delete(fmt.Sprintf("/app/m%d/x%010d", i-10, 0), -1), "delete multi child")
			}
		}
	}
	_, st, err := c.Get("/app")
	must(err, "get /app")
	w.lastZxid = st.Mzxid
	return w
}

// writeAfterLastSnapshot makes sure the log holds a record after ZooKeeper's
// newest snapshot, so that the import must replay one: ZooKeeper snapshots
// at a random point between snapCount/2 and snapCount transactions, which
// can fall on the workload's last one. After a snapshot the next is at
// least snapCount/2 transactions away, so one more write is enough; the
// loop only waits out a snapshot still being written.
func writeAfterLastSnapshot(t *testing.T, w *workload, v2 string) {
	t.Helper()
	for try := range 5 {
		time.Sleep(200 * time.Millisecond)
		if newestSnapshotZxid(t, v2) < w.lastZxid {
			return
		}
		st, err := w.main.Set("/app", []byte(fmt.Sprintf("tail %d", try)), -1)
		if err != nil {
			t.Fatalf("setData after the last snapshot: %v", err)
		}
		w.lastZxid = st.Mzxid
	}
	t.Fatalf("ZooKeeper's newest snapshot stays at or after zxid 0x%x", w.lastZxid)
}

// newestSnapshotZxid is the highest zxid named by a snapshot file in dir.
func newestSnapshotZxid(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var newest int64 = -1
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "snapshot.")
		if !ok {
			continue
		}
		hex, _, _ := strings.Cut(rest, ".")
		if z, err := strconv.ParseInt(hex, 16, 64); err == nil && z > newest {
			newest = z
		}
	}
	return newest
}

// rawSession opens (id 0) or resumes a session on a bare connection and
// returns its id and the password the server gave it (id 0 and a zero
// password when it refused); the connection stays open.
func rawSession(t *testing.T, addr string, id int64, passwd []byte) (int64, []byte, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	req := jute.Marshal(&jute.ConnectRequest{TimeOut: int32(e2eSessionTimeout / time.Millisecond), SessionID: id, Passwd: passwd})
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	if _, err := conn.Write(append(frame, req...)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	var rsp jute.ConnectResponse
	if err := jute.Unmarshal(body, &rsp); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Time{})
	return rsp.SessionID, rsp.Passwd, conn
}

// readAll reads every node from the server, depth first.
func readAll(t *testing.T, c *zk.Conn) map[string]zkNode {
	t.Helper()
	out := make(map[string]zkNode)
	var walk func(path string)
	walk = func(path string) {
		data, st, err := c.Get(path)
		if err != nil {
			t.Fatalf("get %s: %v", path, err)
		}
		acl, _, err := c.GetACL(path)
		if err != nil {
			t.Fatalf("getACL %s: %v", path, err)
		}
		out[path] = zkNode{data: data, stat: *st, acl: acl}
		children, _, err := c.Children(path)
		if err != nil {
			t.Fatalf("children %s: %v", path, err)
		}
		for _, name := range children {
			walk(tree.JoinPath(path, name))
		}
	}
	walk("/")
	return out
}

func countFiles(t *testing.T, dir, snapSuffix string) (snaps, logs int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "snapshot.") && strings.HasSuffix(e.Name(), snapSuffix):
			snaps++
		case strings.HasPrefix(e.Name(), "log."):
			logs++
		}
	}
	return snaps, logs
}

// compareTree checks that tr holds exactly the nodes ZooKeeper served.
func compareTree(t *testing.T, tr *tree.Tree, want map[string]zkNode) {
	t.Helper()
	if got := tr.NodeCount(); got != len(want) {
		t.Errorf("imported tree has %d nodes, ZooKeeper served %d", got, len(want))
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		w := want[p]
		n, ok := tr.Get(p)
		if !ok {
			t.Errorf("%s: missing from the import", p)
			continue
		}
		if got := n.Data(); !bytes.Equal(got, w.data) || (got == nil) != (w.data == nil) {
			t.Errorf("%s: data %q (nil %v), ZooKeeper %q (nil %v)", p, got, got == nil, w.data, w.data == nil)
		}
		st := n.Stat()
		got := zk.Stat{
			Czxid: st.Czxid, Mzxid: st.Mzxid, Ctime: st.Ctime, Mtime: st.Mtime,
			Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion,
			EphemeralOwner: st.EphemeralOwner, DataLength: st.DataLength,
			NumChildren: st.NumChildren, Pzxid: st.Pzxid,
		}
		if got != w.stat {
			t.Errorf("%s: Stat\n got %+v\nwant %+v", p, got, w.stat)
		}
		var acl []zk.ACL
		for _, a := range n.ACL() {
			acl = append(acl, zk.ACL{Perms: a.Perms, Scheme: a.ID.Scheme, ID: a.ID.ID})
		}
		if !slices.Equal(acl, w.acl) {
			t.Errorf("%s: ACL %v, ZooKeeper %v", p, acl, w.acl)
		}
	}
}

// newWrite serves the imported tree with zkd's front end on the store's
// log, checks that a session left open on ZooKeeper resumes with the
// password ZooKeeper gave its client, and that a new write gets a zxid
// after the imported ones.
func newWrite(t *testing.T, tr *tree.Tree, store *engine.Store, imported int64, w *workload) {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	var lg broadcast.Log = store.Log
	srv := netio.NewServer(netio.Config{Addr: addr, EventLoops: 1}.WithDefaults(), tr, lg, slog.New(slog.DiscardHandler))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	id, _, rc := rawSession(t, addr, w.raw, w.rawPasswd)
	rc.Close()
	if id != w.raw {
		t.Errorf("resuming imported session 0x%x with ZooKeeper's password: got session 0x%x", w.raw, id)
	}
	bad := bytes.Clone(w.rawPasswd)
	bad[0] ^= 1
	if id, _, rc := rawSession(t, addr, w.raw, bad); id != 0 {
		t.Errorf("imported session 0x%x resumed with a wrong password", w.raw)
	} else {
		rc.Close()
	}
	c := connect(t, addr)
	defer c.Close()
	if _, err := c.Create("/after-import", []byte("new"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create after import: %v", err)
	}
	_, st, err := c.Get("/after-import")
	if err != nil {
		t.Fatal(err)
	}
	if st.Czxid <= imported {
		t.Errorf("new write got zxid 0x%x, not after the imported 0x%x", st.Czxid, imported)
	}
	_, st, err = c.Get("/app")
	if err != nil || st.Mzxid > imported {
		t.Errorf("get /app after import: %v, mzxid 0x%x", err, st.Mzxid)
	}
}

// replayFromSnapshots imports the directory as if older snapshots were
// the newest, and checks that each gives the same tree as tr: a fuzzy
// snapshot plus replay of the logs after it, from several points
// ZooKeeper left. It takes the oldest (the initial snapshot, so the whole
// log is replayed), the middle one and the second newest: each log file
// read costs a scan of its 64 MB zero tail, slow under the race detector.
func replayFromSnapshots(t *testing.T, v2 string, tr *tree.Tree) {
	t.Helper()
	entries, err := os.ReadDir(v2)
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		name string
		zxid int64
	}
	var snaps []file
	var logs []string
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "snapshot."):
			hex, _, _ := strings.Cut(strings.TrimPrefix(e.Name(), "snapshot."), ".")
			zxid, err := strconv.ParseInt(hex, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, file{e.Name(), zxid})
		case strings.HasPrefix(e.Name(), "log."):
			logs = append(logs, e.Name())
		}
	}
	slices.SortFunc(snaps, func(a, b file) int { return int(a.zxid - b.zxid) })
	picked := map[string]bool{snaps[0].name: true, snaps[len(snaps)/2].name: true, snaps[max(len(snaps)-2, 0)].name: true}
	t.Logf("ZooKeeper left %d snapshots and %d logs; replaying from %v", len(snaps), len(logs), picked)
	for snap := range picked {
		dir := t.TempDir()
		for _, name := range append(logs, snap) {
			if err := os.Symlink(filepath.Join(v2, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		got, res, err := zkimport.Load(zkimport.Options{ZKDir: dir})
		if err != nil {
			t.Errorf("import from %s: %v", snap, err)
			continue
		}
		if res.Snapshot != snap || got.LastZxid() != tr.LastZxid() || got.Digest() != tr.Digest() || res.Mismatch != nil {
			t.Errorf("import from %s (%d records applied): last zxid 0x%x, digest %#x; from the newest: 0x%x, %#x",
				snap, res.Applied, got.LastZxid(), got.Digest(), tr.LastZxid(), tr.Digest())
		}
	}
}
