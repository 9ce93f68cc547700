package tree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"zkd/netio/jute"
)

var (
	snapSeeds = flag.Int("snapshot.seeds", 128, "TestFuzzySnapshot: number of seeds")
	snapOps   = flag.Int("snapshot.ops", 300, "TestFuzzySnapshot: transactions per seed")
	snapSeed  = flag.Int("snapshot.seed", 0, "TestFuzzySnapshot: run only this seed")
)

// snapshotOf writes a whole snapshot of tr, maxNodes at a time, with no
// Apply in between.
func snapshotOf(t testing.TB, tr *Tree, maxNodes int) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw := tr.NewSnapshotWriter()
	for calls := 0; ; calls++ {
		done, err := sw.Next(&buf, maxNodes)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if calls > tr.NodeCount()+1 {
			t.Fatalf("snapshot of %d nodes not done after %d calls of %d", tr.NodeCount(), calls, maxNodes)
		}
	}
	return buf.Bytes()
}

func restore(t testing.TB, b []byte) (*Tree, int64) {
	t.Helper()
	tr, start, err := RestoreSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return tr, start
}

// populated builds a tree with every kind of node and field a snapshot
// must keep: null and empty data, sequential, ephemeral, container and TTL
// nodes, several ACLs (one freed and its cache slot reused), deletions
// that set the stored cversion apart from the client's, sessions, and
// non-ASCII names.
func populated(t *testing.T) *env {
	e := newEnv(t)
	e.session(0x10)
	e.session(0x20)
	e.session(0x30)
	e.create("/app", "config", jute.ModePersistent)
	if _, res, _ := e.do(Request{Session: 1, Op: jute.OpCreate, Create: &jute.CreateRequest{Path: "/null", ACL: OpenACLUnsafe}}); res.Err != jute.ErrOK {
		t.Fatalf("create /null: %v", res.Err)
	}
	e.create("/empty", "", jute.ModePersistent)
	for i := 0; i < 12; i++ {
		e.create("/app/seq-", fmt.Sprint(i), jute.ModePersistentSequential)
	}
	for _, p := range []string{"/app/seq-0000000003", "/app/seq-0000000007"} {
		if _, res, _ := e.do(deleteReq(p, -1)); res.Err != jute.ErrOK {
			t.Fatalf("delete %s: %v", p, res.Err)
		}
	}
	for _, r := range []Request{
		createReq(0x10, "/app/eph", "e", jute.ModeEphemeral),
		createReq(0x20, "/app/eph-", "e", jute.ModeEphemeralSequential),
		createReq(0x20, "/app/eph-", "", jute.ModeEphemeralSequential),
		{Session: 0x10, Op: jute.OpCreateContainer, Create: &jute.CreateRequest{Path: "/c", ACL: OpenACLUnsafe, Flags: jute.ModeContainer}},
		createReq(0x10, "/c/x", "in a container", jute.ModePersistent),
		{Session: 0x10, Op: jute.OpCreateTTL, Create: &jute.CreateRequest{Path: "/t", Data: []byte("ttl"), ACL: OpenACLUnsafe, Flags: jute.ModePersistentWithTTL, TTL: 5000, HasTTL: true}},
		createACLReq(1, "/secret", []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: "u:x"}}}, nil),
		createACLReq(1, "/gone", []jute.ACL{{Perms: jute.PermRead, ID: jute.ID{Scheme: "ip", ID: "10.0.0.0/8"}}}, nil),
		deleteReq("/gone", -1),
		createACLReq(1, "/ip", []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "ip", ID: "127.0.0.1"}}}, nil),
		createReq(1, "/ünïcödé", "日本", jute.ModePersistent),
		createReq(1, "/d", "", jute.ModePersistent),
		createReq(1, "/d/d", "", jute.ModePersistent),
		createReq(1, "/d/d/d", "", jute.ModePersistent),
		createReq(1, "/d/d/d/d", "deep", jute.ModePersistent),
		createReq(1, "/d/e", "", jute.ModePersistent),
		setDataReq("/app", "v2", -1),
		setDataReq("/app", "v3", 1),
		setACLReq("/d/d", ReadACLUnsafe, -1),
		{Session: 0x30, Op: jute.OpCloseSession},
	} {
		if _, res, _ := e.do(r); res.Err != jute.ErrOK {
			t.Fatalf("%v %+v: %v", r.Op, r, res.Err)
		}
	}
	checkInvariants(t, e.tr)
	return e
}

func TestSnapshotRoundTrip(t *testing.T) {
	e := populated(t)
	want := dump(e.tr)
	var first []byte
	for _, maxNodes := range []int{1, 3, 1 << 30} {
		t.Run(fmt.Sprintf("maxNodes=%d", maxNodes), func(t *testing.T) {
			b := snapshotOf(t, e.tr, maxNodes)
			// With no Apply between calls the body does not depend on
			// how it was chunked.
			if first == nil {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Fatalf("body differs from the one written 1 node at a time")
			}
			got, start := restore(t, b)
			if start != e.tr.LastZxid() || got.LastZxid() != start {
				t.Fatalf("start zxid %d, restored LastZxid %d, want %d", start, got.LastZxid(), e.tr.LastZxid())
			}
			checkInvariants(t, got)
			if d := dump(got); d != want {
				t.Fatalf("restored tree differs: %s", diffLines(d, want))
			}
			if got.Digest() != e.tr.Digest() {
				t.Fatalf("digest %x, want %x", got.Digest(), e.tr.Digest())
			}
			if n, ok := got.Get("/null"); !ok || n.Data() != nil {
				t.Fatalf("/null data %v", n.Data())
			}
			if n, ok := got.Get("/empty"); !ok || n.Data() == nil {
				t.Fatalf("/empty data is null")
			}
			if len(got.Watches.data.byPath) != 0 || len(got.Watches.child.byPath) != 0 {
				t.Fatalf("restored tree has watches")
			}
			// The restored tree goes on as the original does: its
			// preparer names the next sequential node alike, and ACL
			// references are counted (setACL releases one).
			p := NewPreparer(got, got.LastZxid())
			p.ExtendedTypes = true
			orig := NewPreparer(e.tr, e.tr.LastZxid())
			orig.ExtendedTypes = true
			a, b2 := e.tr, got
			if maxNodes != 1<<30 {
				// Mutate copies, not the shared e.tr, for the later runs.
				a, _ = restore(t, first)
				orig = NewPreparer(a, a.LastZxid())
				orig.ExtendedTypes = true
			}
			for i, r := range []Request{
				createReq(1, "/app/seq-", "next", jute.ModePersistentSequential),
				setACLReq("/secret", OpenACLUnsafe, -1),
				setACLReq("/ip", OpenACLUnsafe, -1),
				deleteReq("/app/eph", -1),
				{Session: 0x20, Op: jute.OpCloseSession},
			} {
				now := int64(5000 + i)
				r2 := r
				x1, x2 := orig.Prepare(&r, now), p.Prepare(&r2, now)
				res1, _ := a.Apply(&x1, nil)
				res2, _ := b2.Apply(&x2, nil)
				orig.Applied(x1.Zxid)
				p.Applied(x2.Zxid)
				if res1.Err != res2.Err || res1.Path != res2.Path {
					t.Fatalf("request %d: original %v %s, restored %v %s", i, res1.Err, res1.Path, res2.Err, res2.Path)
				}
			}
			checkInvariants(t, b2)
			if d, w := dump(b2), dump(a); d != w {
				t.Fatalf("after more writes: %s", diffLines(d, w))
			}
		})
	}
}

func TestSnapshotFreshTree(t *testing.T) {
	tr := New()
	got, start := restore(t, snapshotOf(t, tr, 2))
	if start != 0 {
		t.Fatalf("start zxid %d", start)
	}
	checkInvariants(t, got)
	if d, w := dump(got), dump(tr); d != w {
		t.Fatalf("%s", diffLines(d, w))
	}
	if got.DataBytes() != 44 || got.NodeCount() != 4 {
		t.Fatalf("DataBytes %d NodeCount %d", got.DataBytes(), got.NodeCount())
	}
}

func TestSnapshotNextAfterDone(t *testing.T) {
	tr := New()
	var buf bytes.Buffer
	sw := tr.NewSnapshotWriter()
	for done := false; !done; {
		var err error
		if done, err = sw.Next(&buf, 100); err != nil {
			t.Fatal(err)
		}
	}
	n := buf.Len()
	if done, err := sw.Next(&buf, 100); !done || err != nil || buf.Len() != n {
		t.Fatalf("Next after done: %v %v, wrote %d bytes", done, err, buf.Len()-n)
	}
}

type failWriter struct{ after int }

var errDisk = errors.New("disk on fire")

func (w *failWriter) Write(b []byte) (int, error) {
	if w.after == 0 {
		return 0, errDisk
	}
	w.after--
	return len(b), nil
}

func TestSnapshotWriterError(t *testing.T) {
	e := populated(t)
	sw := e.tr.NewSnapshotWriter()
	w := &failWriter{after: 2}
	for i := 0; i < 3; i++ {
		done, err := sw.Next(w, 1)
		if i < 2 && (done || err != nil) {
			t.Fatalf("call %d: %v %v", i, done, err)
		}
		if i == 2 && (done || !errors.Is(err, errDisk)) {
			t.Fatalf("failed write: %v %v", done, err)
		}
	}
	// The writer is dead: a good io.Writer does not revive it.
	if done, err := sw.Next(io.Discard, 1<<30); done || !errors.Is(err, errDisk) {
		t.Fatalf("after a failed write: %v %v", done, err)
	}
}

// TestFuzzySnapshotScenario walks the cases a fuzzy snapshot meets, in a
// fixed order: a captured child deleted before its turn, a captured child
// deleted and created again with children of its own, a child created
// after its parent was visited, a parent deleted and created again after
// it was written, ACLs changed and sessions closed mid-way.
func TestFuzzySnapshotScenario(t *testing.T) {
	e := newEnv(t)
	e.session(0x10)
	e.create("/a", "a", jute.ModePersistent)
	for _, c := range []string{"/a/x", "/a/y", "/a/z"} {
		e.create(c, c, jute.ModePersistent)
	}
	e.create("/a/y/1", "", jute.ModePersistent)
	e.create("/b", "b", jute.ModePersistent)
	e.create("/b/k", "k", jute.ModePersistent)
	if _, res, _ := e.do(createReq(0x10, "/b/eph", "", jute.ModeEphemeral)); res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	var log []Txn
	do := func(r Request) {
		t.Helper()
		x, res, _ := e.do(r)
		if res.Err != jute.ErrOK {
			t.Fatalf("%v: %v", r.Op, res.Err)
		}
		log = append(log, x)
	}
	var buf bytes.Buffer
	sw := e.tr.NewSnapshotWriter()
	next := func(want bool) {
		t.Helper()
		done, err := sw.Next(&buf, 1)
		if err != nil || done != want {
			t.Fatalf("Next: done %v, err %v; want done %v", done, err, want)
		}
	}
	next(false) // "/"; captures [a b zookeeper]
	do(createReq(1, "/0", "created before its turn, not visited", jute.ModePersistent))
	next(false) // "/a"; captures [x y z]
	do(deleteReq("/a/x", -1))
	do(deleteReq("/a/y/1", -1))
	do(deleteReq("/a/y", -1))
	do(createReq(1, "/a/y", "y again", jute.ModePersistent))
	do(createReq(1, "/a/y/2", "", jute.ModePersistent))
	do(createReq(1, "/a/w", "after the capture", jute.ModePersistent))
	next(false) // "/a/y" (x is gone); captures [2]
	do(setACLReq("/a/y/2", ReadACLUnsafe, -1))
	next(false) // "/a/y/2"
	do(deleteReq("/a/z", -1))
	do(deleteReq("/a/y/2", -1))
	do(deleteReq("/a/y", -1))
	do(deleteReq("/a/w", -1))
	do(deleteReq("/a", -1))
	do(createReq(1, "/a", "a again", jute.ModePersistent))
	next(false) // z is gone; "/b"
	do(Request{Session: 0x10, Op: jute.OpCloseSession})
	do(setDataReq("/b/k", "k2", -1))
	for done := false; !done; {
		var err error
		if done, err = sw.Next(&buf, 1); err != nil {
			t.Fatal(err)
		}
	}
	got, start := restore(t, buf.Bytes())
	checkInvariants(t, got)
	if _, ok := got.Get("/a/x"); ok {
		t.Fatalf("/a/x in the snapshot")
	}
	if n, ok := got.Get("/a/y"); !ok || string(n.Data()) != "y again" {
		t.Fatalf("/a/y not the second incarnation")
	}
	for _, p := range []string{"/0", "/a/w"} {
		if _, ok := got.Get(p); ok {
			t.Fatalf("%s, created after its parent was visited, is in the snapshot", p)
		}
	}
	for i := range log {
		if log[i].Zxid > start {
			got.Apply(&log[i], nil)
		}
	}
	checkInvariants(t, got)
	if d, w := dump(got), dump(e.tr); d != w {
		t.Fatalf("after replay: %s", diffLines(d, w))
	}
	if got.Digest() != e.tr.Digest() {
		t.Fatalf("digests differ")
	}
}

// TestFuzzySnapshot is the claim at the top of snapshot.go, tested: build
// a random history (tree_test.go's randomHistory: creates of every mode,
// deletes, setData, setACL, multi, sessions and their ephemerals,
// containers, TTL nodes), apply a prefix of it, start a snapshot at S,
// apply the rest in small bursts between Next calls, then restore the
// snapshot and replay the log after S. The result must equal the live
// tree. The seed is in the subtest name; -snapshot.seed reruns one.
func TestFuzzySnapshot(t *testing.T) {
	seeds, ops := *snapSeeds, *snapOps
	if testing.Short() {
		seeds, ops = 24, 200
	}
	first := *snapSeed
	if first != 0 {
		seeds = 1
	} else {
		first = 1
	}
	deadline := time.Now().Add(60 * time.Second)
	for seed := first; seed < first+seeds; seed++ {
		if time.Now().After(deadline) {
			t.Logf("time bound: stopped after %d seeds", seed-first)
			break
		}
		for _, maxNodes := range []int{1, 3, 1 << 30} {
			t.Run(fmt.Sprintf("seed=%d/maxNodes=%d", seed, maxNodes), func(t *testing.T) {
				fuzzySnapshotRun(t, uint64(seed), ops, maxNodes)
			})
		}
	}
}

func fuzzySnapshotRun(t *testing.T, seed uint64, ops, maxNodes int) {
	rng := rand.New(rand.NewPCG(seed, 0x736e6170))
	txns, want := randomHistory(t, rng, ops)
	log := make([][]byte, len(txns))
	for i := range txns {
		var w jute.Writer
		txns[i].Encode(&w)
		log[i] = w.B
	}
	live := New()
	s := rng.IntN(len(txns)/2 + 1)
	for i := 0; i < s; i++ {
		live.Apply(&txns[i], nil)
	}
	var buf bytes.Buffer
	sw := live.NewSnapshotWriter()
	next := s
	burst := 1 + rng.IntN(8)
	for calls := 0; ; calls++ {
		// Writes may come between NewSnapshotWriter and the first Next
		// too: the start zxid is the writer's, not the first chunk's.
		for k := rng.IntN(burst + 1); k > 0 && next < len(txns); k-- {
			live.Apply(&txns[next], nil)
			next++
		}
		done, err := sw.Next(&buf, maxNodes)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if calls > 10*ops {
			t.Fatalf("snapshot not done after %d calls", calls)
		}
	}
	for ; next < len(txns); next++ {
		live.Apply(&txns[next], nil)
	}
	got, start := restore(t, buf.Bytes())
	wantStart := int64(0)
	if s > 0 {
		wantStart = txns[s-1].Zxid
	}
	if start != wantStart {
		t.Fatalf("start zxid %d, want %d", start, wantStart)
	}
	checkInvariants(t, got)
	for i := s; i < len(txns); i++ {
		x, err := DecodeTxn(log[i])
		if err != nil {
			t.Fatalf("decode txn %d: %v", i, err)
		}
		got.Apply(&x, nil)
	}
	checkInvariants(t, got)
	// The digest the snapshot recorded at its end was checked on the way.
	if c, ok := got.TakeDigestCheck(); !ok || !c.OK() {
		t.Fatalf("digest check after the replay: %v (taken %v)", c, ok)
	}
	if d, w := dump(got), dump(live); d != w {
		t.Fatalf("snapshot from txn %d, restored and replayed: %s", s, diffLines(d, w))
	}
	if got.Digest() != live.Digest() || live.Digest() != want.Digest() {
		t.Fatalf("same dump, digests differ: restored %x, live %x, history %x", got.Digest(), live.Digest(), want.Digest())
	}
	if got.LastZxid() != live.LastZxid() {
		t.Fatalf("LastZxid %d, want %d", got.LastZxid(), live.LastZxid())
	}
}

// frame builds one body frame of kind with fields written by fill.
func frame(kind int32, fill func(w *jute.Writer)) []byte {
	var w jute.Writer
	at := w.BeginFrame()
	w.Int(kind)
	fill(&w)
	w.EndFrame(at)
	return w.B
}

func nodeFrame(path string, aclRef int32) []byte {
	return frame(snapKindNode, func(w *jute.Writer) {
		w.String(path)
		w.Buffer(nil)
		for i := 0; i < 6; i++ {
			w.Long(0)
		}
		w.Int(0)
		w.Int(0)
		w.Int(0)
		w.Int(aclRef)
	})
}

func TestRestoreSnapshotMalformed(t *testing.T) {
	// Version 2 bodies: the end record has no digest (version 3's cases
	// are in TestRestoreSnapshotDigest).
	header := frame(snapKindHeader, func(w *jute.Writer) { w.Int(2); w.Long(7); w.Long(2) })
	acl := frame(snapKindACL, func(w *jute.Writer) { w.Int(1); w.ACLs(OpenACLUnsafe) })
	end := func(nodes, sessions int64) []byte {
		return frame(snapKindEnd, func(w *jute.Writer) { w.Long(nodes); w.Long(sessions) })
	}
	session := frame(snapKindSession, func(w *jute.Writer) { w.Long(0x10); w.Int(3000) })
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	good := cat(header, session, acl, nodeFrame("/", 1), nodeFrame("/a", 1), end(2, 1))
	if tr, start := restore(t, good); start != 7 || tr.NodeCount() != 2 || !tr.HasSession(0x10) {
		t.Fatalf("minimal body: start %d, %d nodes", start, tr.NodeCount())
	}
	// Version 1 had no node-count hint; a hint is only a hint, whatever
	// its value.
	for name, h := range map[string][]byte{
		"version 1":     frame(snapKindHeader, func(w *jute.Writer) { w.Int(1); w.Long(7) }),
		"hint huge":     frame(snapKindHeader, func(w *jute.Writer) { w.Int(2); w.Long(7); w.Long(1 << 62) }),
		"hint negative": frame(snapKindHeader, func(w *jute.Writer) { w.Int(2); w.Long(7); w.Long(-5) }),
		"hint zero":     frame(snapKindHeader, func(w *jute.Writer) { w.Int(2); w.Long(7); w.Long(0) }),
	} {
		if tr, start := restore(t, cat(h, session, acl, nodeFrame("/", 1), nodeFrame("/a", 1), end(2, 1))); start != 7 || tr.NodeCount() != 2 {
			t.Fatalf("%s: start %d, %d nodes", name, start, tr.NodeCount())
		} else {
			checkInvariants(t, tr)
		}
	}
	// Not depth-first (the writer never does this) still restores: the
	// parent of "/a/x" is found in the path index.
	if tr, _ := restore(t, cat(header, acl, nodeFrame("/", 1), nodeFrame("/a", 1), nodeFrame("/b", 1),
		nodeFrame("/a/x", 1), nodeFrame("/b/y", 1), end(5, 0))); tr.NodeCount() != 5 {
		t.Fatalf("breadth-first body: %d nodes", tr.NodeCount())
	} else {
		checkInvariants(t, tr)
	}
	for name, b := range map[string][]byte{
		"empty":                  nil,
		"no header":              cat(acl, nodeFrame("/", 1), end(1, 0)),
		"two headers":            cat(header, header, acl, nodeFrame("/", 1), end(1, 0)),
		"bad version":            cat(frame(snapKindHeader, func(w *jute.Writer) { w.Int(99); w.Long(7); w.Long(1) }), acl, nodeFrame("/", 1), end(1, 0)),
		"version 2 without hint": cat(frame(snapKindHeader, func(w *jute.Writer) { w.Int(2); w.Long(7) }), acl, nodeFrame("/", 1), end(1, 0)),
		"version 0":              cat(frame(snapKindHeader, func(w *jute.Writer) { w.Int(0); w.Long(7) }), acl, nodeFrame("/", 1), end(1, 0)),
		"no end":                 cat(header, acl, nodeFrame("/", 1)),
		"no nodes":               cat(header, end(0, 0)),
		"first node not root":    cat(header, acl, nodeFrame("/a", 1), end(1, 0)),
		"child before parent":    cat(header, acl, nodeFrame("/", 1), nodeFrame("/a/b", 1), end(2, 0)),
		"node twice":             cat(header, acl, nodeFrame("/", 1), nodeFrame("/a", 1), nodeFrame("/a", 1), end(3, 0)),
		"root twice":             cat(header, acl, nodeFrame("/", 1), nodeFrame("/", 1), end(2, 0)),
		"bad path":               cat(header, acl, nodeFrame("/", 1), nodeFrame("/a/", 1), end(2, 0)),
		"undefined acl":          cat(header, acl, nodeFrame("/", 2), end(1, 0)),
		"acl ref zero":           cat(header, acl, nodeFrame("/", 0), end(1, 0)),
		"acl ref out of order":   cat(header, frame(snapKindACL, func(w *jute.Writer) { w.Int(2); w.ACLs(OpenACLUnsafe) }), nodeFrame("/", 1), end(1, 0)),
		"session twice":          cat(header, session, session, acl, nodeFrame("/", 1), end(1, 2)),
		"session after node":     cat(header, acl, nodeFrame("/", 1), session, end(1, 1)),
		"wrong node count":       cat(header, acl, nodeFrame("/", 1), end(2, 0)),
		"wrong session count":    cat(header, acl, nodeFrame("/", 1), end(1, 1)),
		"unknown kind":           cat(header, frame(42, func(*jute.Writer) {}), acl, nodeFrame("/", 1), end(1, 0)),
		"trailing bytes":         cat(good, []byte{0}),
		"trailing record":        cat(good, end(2, 1)),
		"record trailing bytes":  cat(header, acl, frame(snapKindEnd, func(w *jute.Writer) { w.Long(1); w.Long(0); w.Int(0) })),
		"short record":           cat(header, frame(snapKindEnd, func(w *jute.Writer) { w.Long(1) })),
		"frame length too small": cat(header, []byte{0, 0, 0, 2, 0, 0}),
		"frame length huge":      cat(header, []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 5}),
	} {
		if _, _, err := RestoreSnapshot(bytes.NewReader(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: err %v, want ErrBadSnapshot", name, err)
		}
	}
	// Every truncation of a real body is an error; so is every flipped
	// byte unless the body still makes a tree (a data byte), which then
	// must be whole.
	b := snapshotOf(t, populated(t).tr, 5)
	for i := 0; i < len(b); i++ {
		if _, _, err := RestoreSnapshot(bytes.NewReader(b[:i])); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("truncated at %d of %d: err %v", i, len(b), err)
		}
		c := bytes.Clone(b)
		c[i] ^= 0x5a
		if tr, _, err := RestoreSnapshot(bytes.NewReader(c)); err == nil {
			checkInvariants(t, tr)
		}
	}
	// A read error is passed on, not called malformed.
	if _, _, err := RestoreSnapshot(&errReader{b: b[:40]}); !errors.Is(err, errDisk) || errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("read error: %v", err)
	}
}

type errReader struct{ b []byte }

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errDisk
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func FuzzRestoreSnapshot(f *testing.F) {
	f.Add([]byte{})
	f.Add(snapshotOf(f, New(), 1))
	tr := New()
	for i, x := range []Txn{
		{Type: jute.OpCreateSession, Session: 0x10, Timeout: 4000},
		{Type: jute.OpCreate, Path: "/a", Data: []byte("x"), ACL: OpenACLUnsafe, Version: 1},
		{Type: jute.OpCreate, Path: "/a/e", ACL: ReadACLUnsafe, Owner: 0x10, Version: 1},
		{Type: jute.OpCreate, Path: "/c", Data: []byte{}, ACL: OpenACLUnsafe, Owner: jute.ContainerEphemeralOwner, Version: 2},
		{Type: jute.OpCreate, Path: "/t", ACL: OpenACLUnsafe, Owner: jute.TTLOwner(100), Version: 3},
	} {
		x.Zxid = int64(i + 1)
		tr.Apply(&x, nil)
	}
	body := snapshotOf(f, tr, 2)
	f.Add(body)
	f.Add(body[:len(body)/2])
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<29)
	f.Add(append(bytes.Clone(body[:24]), hdr[:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, start, err := RestoreSnapshot(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		checkInvariants(t, tr)
		// What restores writes back to a body that restores the same.
		again, start2 := restore(t, snapshotOf(t, tr, 3))
		if start2 != start || again.Digest() != tr.Digest() || dump(again) != dump(tr) {
			t.Fatalf("second round trip differs")
		}
	})
}

// TestRestoreSnapshotDigest: a version 3 body records the tree's digest
// at the zxid it ended at. When that is its start zxid (nothing changed
// while it was written) restore checks it at once; later, the check waits
// for Apply to reach the end zxid.
func TestRestoreSnapshotDigest(t *testing.T) {
	acl := frame(snapKindACL, func(w *jute.Writer) { w.Int(1); w.ACLs(OpenACLUnsafe) })
	session := frame(snapKindSession, func(w *jute.Writer) { w.Long(0x10); w.Int(3000) })
	header := func(v int32) []byte {
		return frame(snapKindHeader, func(w *jute.Writer) { w.Int(v); w.Long(7); w.Long(2) })
	}
	body := func(end []byte) []byte {
		return bytes.Join([][]byte{header(3), session, acl, nodeFrame("/", 1), nodeFrame("/a", 1), end}, nil)
	}
	end := func(endZxid int64, digestVersion int32, digest uint64) []byte {
		return frame(snapKindEnd, func(w *jute.Writer) {
			w.Long(2)
			w.Long(1)
			w.Long(endZxid)
			w.Int(digestVersion)
			w.Long(int64(digest))
		})
	}
	v2, _ := restore(t, bytes.Join([][]byte{header(2), session, acl, nodeFrame("/", 1), nodeFrame("/a", 1),
		frame(snapKindEnd, func(w *jute.Writer) { w.Long(2); w.Long(1) })}, nil))
	digest := v2.Digest()
	if c, ok := v2.TakeDigestCheck(); ok {
		t.Fatalf("a version 2 body has a digest check: %v", c)
	}

	// Nothing changed while it was written: checked at once.
	tr, _ := restore(t, body(end(7, DigestVersion, digest)))
	if c, ok := tr.TakeDigestCheck(); !ok || !c.OK() || c.Zxid != 7 {
		t.Fatalf("checked at restore: %v (taken %v)", c, ok)
	}
	if _, _, err := RestoreSnapshot(bytes.NewReader(body(end(7, DigestVersion, digest+1)))); !errors.Is(err, ErrBadSnapshot) ||
		!strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("wrong digest at the start zxid: %v", err)
	}
	if _, _, err := RestoreSnapshot(bytes.NewReader(body(end(6, DigestVersion, digest)))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("end zxid before the start: %v", err)
	}
	// Another digest layout is not compared.
	tr, _ = restore(t, body(end(7, DigestVersion+1, digest+1)))
	if c, ok := tr.TakeDigestCheck(); ok {
		t.Fatalf("a digest of another version was checked: %v", c)
	}

	// Ended at zxid 9: the replay settles it there, match or mismatch.
	x8 := Txn{Zxid: 8, Type: jute.OpSetData, Path: "/a", Data: []byte("8"), Version: 1}
	x9 := Txn{Zxid: 9, Type: jute.OpSetData, Path: "/a", Data: []byte("9"), Version: 2}
	live, _ := restore(t, body(end(7, DigestVersion, digest)))
	live.Apply(&x8, nil)
	live.Apply(&x9, nil)
	for _, tc := range []struct {
		name   string
		digest uint64
		ok     bool
	}{{"match", live.Digest(), true}, {"mismatch", live.Digest() ^ 1, false}} {
		tr, _ := restore(t, body(end(9, DigestVersion, tc.digest)))
		tr.Apply(&x8, nil)
		if c, ok := tr.TakeDigestCheck(); !ok || !c.Pending() {
			t.Fatalf("%s: settled before zxid 9: %v (taken %v)", tc.name, c, ok)
		}
		tr.Apply(&x9, nil)
		c, ok := tr.TakeDigestCheck()
		if !ok || !c.Checked || c.OK() != tc.ok || c.Got != live.Digest() {
			t.Fatalf("%s: %v (taken %v)", tc.name, c, ok)
		}
		if _, again := tr.TakeDigestCheck(); again {
			t.Fatalf("%s: the check was taken twice", tc.name)
		}
		if want := map[bool]uint64{true: 0, false: 1}[tc.ok]; tr.DigestMismatches() != want {
			t.Fatalf("%s: %d mismatches counted, want %d", tc.name, tr.DigestMismatches(), want)
		}
	}
	// A log that skips the end zxid leaves nothing to compare.
	tr, _ = restore(t, body(end(8, DigestVersion, digest)))
	tr.Apply(&x9, nil)
	if c, ok := tr.TakeDigestCheck(); !ok || !c.Skipped || c.OK() {
		t.Fatalf("skipped end zxid: %v (taken %v)", c, ok)
	}
}
