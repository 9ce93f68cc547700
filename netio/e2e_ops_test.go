package netio_test

// End-to-end tests of every operation go-zookeeper sends, against an
// in-process server. Expected values are what Apache ZooKeeper 3.8 answers
// (ZKD_E2E_REFZK=1 runs the same tests against it; see helpers_test.go).

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/netio/jute"
	"zkd/tree"
)

func TestE2ECreateModes(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)

	p, err := c.Create("/p", []byte("d"), zk.FlagPersistent, e2eOpenACL)
	if err != nil || p != "/p" {
		t.Fatalf("create persistent: %q, %v", p, err)
	}
	data, st, err := c.Get("/p")
	if err != nil || string(data) != "d" {
		t.Fatalf("get /p: %q, %v", data, err)
	}
	if st.Version != 0 || st.DataLength != 1 || st.EphemeralOwner != 0 || st.NumChildren != 0 ||
		st.Czxid <= 0 || st.Czxid != st.Mzxid || st.Czxid != st.Pzxid || st.Ctime != st.Mtime || st.Ctime <= 0 {
		t.Errorf("stat of a new persistent node: %+v", st)
	}

	e, err := c.Create("/p/e", nil, zk.FlagEphemeral, e2eOpenACL)
	if err != nil || e != "/p/e" {
		t.Fatalf("create ephemeral: %q, %v", e, err)
	}
	if _, st, _ := c.Get("/p/e"); st.EphemeralOwner != c.SessionID() {
		t.Errorf("ephemeral owner %#x, want session %#x", st.EphemeralOwner, c.SessionID())
	}

	// A sequential name is the parent's cversion before the create, in 10
	// zero-padded digits.
	seqRE := regexp.MustCompile(`^/p/s-(\d{10})$`)
	_, pst, _ := c.Get("/p")
	s, err := c.Create("/p/s-", []byte("x"), zk.FlagSequence, e2eOpenACL)
	if err != nil || !seqRE.MatchString(s) {
		t.Fatalf("create sequential: %q, %v", s, err)
	}
	if want := fmt.Sprintf("/p/s-%010d", pst.Cversion); s != want {
		t.Errorf("sequential name %q, want %q (parent cversion %d)", s, want, pst.Cversion)
	}
	if _, st, _ := c.Get(s); st.EphemeralOwner != 0 {
		t.Errorf("persistent sequential has ephemeral owner %#x", st.EphemeralOwner)
	}

	es, err := c.Create("/p/es-", nil, zk.FlagEphemeralSequential, e2eOpenACL)
	if err != nil || !regexp.MustCompile(`^/p/es-\d{10}$`).MatchString(es) {
		t.Fatalf("create ephemeral sequential: %q, %v", es, err)
	}
	if _, st, _ := c.Get(es); st.EphemeralOwner != c.SessionID() {
		t.Errorf("ephemeral sequential owner %#x, want %#x", st.EphemeralOwner, c.SessionID())
	}

	// CreateProtectedEphemeralSequential: create with flags 3 and a GUID
	// prefix; the client finds the node by the GUID after a lost reply.
	pr, err := c.CreateProtectedEphemeralSequential("/p/lock-", []byte("me"), e2eOpenACL)
	if err != nil || !regexp.MustCompile(`^/p/_c_[0-9a-f]{32}-lock-\d{10}$`).MatchString(pr) {
		t.Fatalf("protected ephemeral sequential: %q, %v", pr, err)
	}
	if d, st, err := c.Get(pr); err != nil || string(d) != "me" || st.EphemeralOwner != c.SessionID() {
		t.Errorf("protected node: %q %+v %v", d, st, err)
	}

	if _, err := c.Create("/p", nil, 0, e2eOpenACL); !errors.Is(err, zk.ErrNodeExists) {
		t.Errorf("create existing: %v, want ErrNodeExists", err)
	}
	if _, err := c.Create("/missing/child", nil, 0, e2eOpenACL); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("create under missing parent: %v, want ErrNoNode", err)
	}

	kids, st, err := c.Children("/p")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"e", s[len("/p/"):], es[len("/p/"):], pr[len("/p/"):]}
	sort.Strings(want)
	sorted := append([]string(nil), kids...)
	sort.Strings(sorted)
	if !reflect.DeepEqual(sorted, want) {
		t.Errorf("children %v, want %v", kids, want)
	}
	if st.NumChildren != 4 || st.Cversion != 4 {
		t.Errorf("parent stat after 4 creates: numChildren %d cversion %d, want 4 and 4", st.NumChildren, st.Cversion)
	}
}

func TestE2EContainerReapedAfterLastChild(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)

	if p, err := c.CreateContainer("/c", []byte("x"), zk.FlagContainer, e2eOpenACL); err != nil || p != "/c" {
		t.Fatalf("create container: %q %v", p, err)
	}
	if _, err := c.Create("/c/kid", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	// While it has a child, the container stays (several reaper passes).
	if _, err := c.Create("/c/kid2", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/c/kid", -1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * 200 * time.Millisecond) // three reaper passes with a child left
	if ok, _, err := c.Exists("/c"); err != nil || !ok {
		t.Fatalf("container with a child was reaped (exists=%v, %v)", ok, err)
	}
	ok, _, ch, err := c.ExistsW("/c")
	if err != nil || !ok {
		t.Fatalf("existsW /c: %v %v", ok, err)
	}
	if err := c.Delete("/c/kid2", -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted || ev.Path != "/c" {
			t.Fatalf("event %+v, want NodeDeleted /c", ev)
		}
	case <-time.After(e2eWait):
		t.Fatalf("empty container not reaped within %v", e2eWait)
	}
	if ok, _, _ := c.Exists("/c"); ok {
		t.Fatal("container still exists after NodeDeleted")
	}
}

func TestE2ETTLNodes(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	const ttl = 300 * time.Millisecond

	// Each node is watched right after its create: it may be reaped any
	// time after ttl.
	watch := func(p string) <-chan zk.Event {
		t.Helper()
		ok, _, ch, err := c.ExistsW(p)
		if err != nil || !ok {
			t.Fatalf("existsW %s right after its create: %v %v", p, ok, err)
		}
		return ch
	}
	created := time.Now()
	if p, err := c.CreateTTL("/ttl", []byte("x"), zk.FlagTTL, e2eOpenACL, ttl); err != nil || p != "/ttl" {
		t.Fatalf("createTTL: %q %v", p, err)
	}
	chTTL := watch("/ttl")
	if _, st, _ := c.Get("/ttl"); st.EphemeralOwner != 0 {
		// ZooKeeper 3.8 reports ephemeralOwner 0 for TTL nodes.
		t.Errorf("TTL node ephemeralOwner %#x, want 0", st.EphemeralOwner)
	}
	seq, err := c.CreateTTL("/ttls-", nil, zk.FlagPersistentSequentialWithTTL, e2eOpenACL, ttl)
	if err != nil || !regexp.MustCompile(`^/ttls-\d{10}$`).MatchString(seq) {
		t.Fatalf("createTTL sequential: %q %v", seq, err)
	}
	chSeq := watch(seq)
	if _, err := c.CreateTTL("/ttlp", nil, zk.FlagTTL, e2eOpenACL, ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/ttlp/kid", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTTL("/ttl0", nil, zk.FlagTTL, e2eOpenACL, 0); !errors.Is(err, zk.ErrBadArguments) {
		t.Errorf("createTTL with ttl 0: %v, want ErrBadArguments", err)
	}

	for p, ch := range map[string]<-chan zk.Event{"/ttl": chTTL, seq: chSeq} {
		select {
		case ev := <-ch:
			if ev.Type != zk.EventNodeDeleted || ev.Path != p {
				t.Fatalf("%s: event %+v, want NodeDeleted", p, ev)
			}
		case <-time.After(e2eWait):
			t.Fatalf("TTL node %s not reaped within %v", p, e2eWait)
		}
	}
	if since := time.Since(created); since < ttl {
		t.Errorf("TTL node reaped after %v, before its TTL %v", since, ttl)
	}
	// A TTL node with a child is kept past its TTL ...
	if ok, _, _ := c.Exists("/ttlp"); !ok {
		t.Fatal("TTL node with a child was reaped")
	}
	// ... and reaped once childless (its mtime is older than the TTL).
	_, _, ch, err := c.ExistsW("/ttlp")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/ttlp/kid", -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted || ev.Path != "/ttlp" {
			t.Fatalf("event %+v, want NodeDeleted /ttlp", ev)
		}
	case <-time.After(e2eWait):
		t.Fatalf("childless expired TTL node not reaped within %v", e2eWait)
	}
}

func TestE2EDelete(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)

	if _, err := c.Create("/d", []byte("a"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/d", 5); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("delete with wrong version: %v, want ErrBadVersion", err)
	}
	if _, err := c.Set("/d", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/d", 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("delete with stale version: %v, want ErrBadVersion", err)
	}
	if err := c.Delete("/d", 1); err != nil {
		t.Errorf("delete with current version: %v", err)
	}
	if ok, _, _ := c.Exists("/d"); ok {
		t.Error("/d exists after delete")
	}

	if _, err := c.Create("/any", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/any", -1); err != nil {
		t.Errorf("delete with version -1: %v", err)
	}

	if _, err := c.Create("/full", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/full/kid", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/full", -1); !errors.Is(err, zk.ErrNotEmpty) {
		t.Errorf("delete non-empty: %v, want ErrNotEmpty", err)
	}
	if err := c.Delete("/nothere", -1); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("delete missing: %v, want ErrNoNode", err)
	}
	if err := c.Delete("/nothere", 3); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("delete missing with a version: %v, want ErrNoNode", err)
	}
	if err := c.Delete("/zookeeper", -1); !errors.Is(err, zk.ErrBadArguments) {
		t.Errorf("delete /zookeeper: %v, want ErrBadArguments", err)
	}
}

func TestE2ESetGetExistsStat(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)

	if _, err := c.Create("/s", []byte("a"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	_, st0, err := c.Get("/s")
	if err != nil {
		t.Fatal(err)
	}
	st1, err := c.Set("/s", []byte("bcd"), 0)
	if err != nil {
		t.Fatalf("set with current version: %v", err)
	}
	if st1.Version != 1 || st1.DataLength != 3 || st1.Mzxid <= st0.Mzxid || st1.Czxid != st0.Czxid ||
		st1.Ctime != st0.Ctime || st1.Mtime < st0.Mtime || st1.Pzxid != st0.Pzxid || st1.Cversion != 0 {
		t.Errorf("stat after set: %+v (before %+v)", st1, st0)
	}
	if _, err := c.Set("/s", []byte("x"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("set with stale version: %v, want ErrBadVersion", err)
	}
	st2, err := c.Set("/s", []byte(""), -1)
	if err != nil || st2.Version != 2 || st2.DataLength != 0 || st2.Mzxid <= st1.Mzxid {
		t.Errorf("set with version -1: %+v %v", st2, err)
	}
	d, st3, err := c.Get("/s")
	if err != nil || len(d) != 0 || *st3 != *st2 {
		t.Errorf("get after set: %q %+v %v, want stat %+v", d, st3, err, st2)
	}
	ok, st4, err := c.Exists("/s")
	if err != nil || !ok || *st4 != *st2 {
		t.Errorf("exists: %v %+v %v", ok, st4, err)
	}
	if ok, _, err := c.Exists("/nope"); err != nil || ok {
		t.Errorf("exists on missing node: %v %v", ok, err)
	}
	if _, err := c.Set("/nope", nil, -1); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("set missing: %v, want ErrNoNode", err)
	}
	if _, _, err := c.Get("/nope"); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("get missing: %v, want ErrNoNode", err)
	}
	// A 1000-byte value round-trips.
	big := make([]byte, 1000)
	for i := range big {
		big[i] = byte(i)
	}
	if _, err := c.Set("/s", big, -1); err != nil {
		t.Fatal(err)
	}
	if d, st, _ := c.Get("/s"); !reflect.DeepEqual(d, big) || st.DataLength != 1000 {
		t.Errorf("big value did not round-trip (len %d, DataLength %d)", len(d), st.DataLength)
	}
	if p, err := c.Sync("/s"); err != nil || p != "/s" {
		t.Errorf("sync: %q %v", p, err)
	}
}

func TestE2EGetSetACL(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)

	if _, err := c.Create("/acl", []byte("x"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	acl, st, err := c.GetACL("/acl")
	if err != nil || !reflect.DeepEqual(acl, e2eOpenACL) || st.Aversion != 0 {
		t.Fatalf("getACL: %v %+v %v", acl, st, err)
	}
	st, err = c.SetACL("/acl", zk.WorldACL(zk.PermRead|zk.PermAdmin), 0)
	if err != nil || st.Aversion != 1 || st.Version != 0 {
		t.Fatalf("setACL: %+v %v", st, err)
	}
	if _, err := c.SetACL("/acl", e2eOpenACL, 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("setACL with stale aversion: %v, want ErrBadVersion", err)
	}
	if acl, st, _ := c.GetACL("/acl"); !reflect.DeepEqual(acl, zk.WorldACL(zk.PermRead|zk.PermAdmin)) || st.Aversion != 1 {
		t.Errorf("getACL after setACL: %v aversion %d", acl, st.Aversion)
	}
	if _, err := c.Set("/acl", []byte("y"), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("set without WRITE: %v, want ErrNoAuth", err)
	}
	if _, err := c.Create("/acl/kid", nil, 0, e2eOpenACL); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("create without CREATE on parent: %v, want ErrNoAuth", err)
	}
	if _, err := c.SetACL("/acl", []zk.ACL{{Perms: zk.PermAll, Scheme: "bogus", ID: "x"}}, -1); !errors.Is(err, zk.ErrInvalidACL) {
		t.Errorf("setACL with unknown scheme: %v, want ErrInvalidACL", err)
	}
	if _, err := c.SetACL("/nope", e2eOpenACL, -1); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("setACL on missing node: %v, want ErrNoNode", err)
	}
	if _, _, err := c.GetACL("/nope"); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("getACL on missing node: %v, want ErrNoNode", err)
	}
	// ADMIN lets the ACL be opened again.
	if st, err := c.SetACL("/acl", e2eOpenACL, -1); err != nil || st.Aversion != 2 {
		t.Errorf("setACL with ADMIN: %+v %v", st, err)
	}
}

// TestE2EDigestAuthGoClient uses go-zookeeper's AddAuth, which sends auth
// with an ordinary (positive) xid and waits for a reply with that xid.
func TestE2EDigestAuthGoClient(t *testing.T) {
	addr := e2eStart(t)
	owner := e2eConnect(t, addr)
	other := e2eConnect(t, addr)
	same := e2eConnect(t, addr)
	wrong := e2eConnect(t, addr)
	super := e2eConnect(t, addr)

	addAuth := func(c *e2eClient, cred string) {
		t.Helper()
		if err := e2eCall(t, "AddAuth("+cred+")", func() error { return c.AddAuth("digest", []byte(cred)) }); err != nil {
			t.Fatalf("AddAuth(%s): %v", cred, err)
		}
	}
	addAuth(owner, "user:pass")
	if _, err := owner.Create("/sec", []byte("s"), 0, zk.DigestACL(zk.PermAll, "user", "pass")); err != nil {
		t.Fatalf("create with digest ACL: %v", err)
	}
	if _, _, err := other.Get("/sec"); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("get without auth: %v, want ErrNoAuth", err)
	}
	if _, err := other.Set("/sec", nil, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("set without auth: %v, want ErrNoAuth", err)
	}
	addAuth(same, "user:pass")
	if d, _, err := same.Get("/sec"); err != nil || string(d) != "s" {
		t.Errorf("get with auth: %q %v", d, err)
	}
	addAuth(wrong, "user:wrong")
	if _, _, err := wrong.Get("/sec"); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("get with the wrong password: %v, want ErrNoAuth", err)
	}
	addAuth(super, e2eSuperAuth)
	if _, err := super.Set("/sec", []byte("t"), -1); err != nil {
		t.Errorf("super set: %v", err)
	}
	if err := super.Delete("/sec", -1); err != nil {
		t.Errorf("super delete: %v", err)
	}
	// The "auth" scheme stands for the session's authenticated identities.
	if _, err := owner.Create("/mine", nil, 0, zk.AuthACL(zk.PermAll)); err != nil {
		t.Errorf("create with auth ACL when authenticated: %v", err)
	}
	if _, err := other.Create("/theirs", nil, 0, zk.AuthACL(zk.PermAll)); !errors.Is(err, zk.ErrInvalidACL) {
		t.Errorf("create with auth ACL when not authenticated: %v, want ErrInvalidACL", err)
	}
}

// TestE2EDigestAuthRaw checks ACL semantics with auth sent as the Java
// client sends it (xid -4), so it does not depend on how the reply xid is
// chosen for other xids.
func TestE2EDigestAuthRaw(t *testing.T) {
	addr := e2eStart(t)
	owner := e2eRawSession(t, addr)
	other := e2eRawSession(t, addr)
	super := e2eRawSession(t, addr)
	auth := func(r *e2eRaw, cred string) {
		t.Helper()
		r.mustWrite(e2eRequest(jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte(cred)}))
		h, _ := r.next()
		if h.Xid != jute.XidAuth || h.Err != jute.ErrOK {
			t.Fatalf("auth %s: reply %+v", cred, h)
		}
	}
	auth(owner, "user:pass")
	auth(super, e2eSuperAuth)

	digest := tree.DigestOf("user:pass")
	secACL := []jute.ACL{
		{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: digest}},
		{Perms: jute.PermRead, ID: jute.ID{Scheme: "world", ID: "anyone"}},
	}
	if err := owner.call(jute.OpCreate, &jute.CreateRequest{Path: "/sec", Data: []byte("s"), ACL: secACL}, nil); err != jute.ErrOK {
		t.Fatalf("create: %v", err)
	}
	if err := owner.call(jute.OpCreate, &jute.CreateRequest{Path: "/lock", ACL: []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: digest}}}}, nil); err != jute.ErrOK {
		t.Fatalf("create: %v", err)
	}
	var gd jute.GetDataResponse
	if err := other.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/sec"}, &gd); err != jute.ErrOK || string(gd.Data) != "s" {
		t.Errorf("world READ: %v %q", err, gd.Data)
	}
	if err := other.call(jute.OpSetData, &jute.SetDataRequest{Path: "/sec", Data: []byte("x"), Version: -1}, nil); err != jute.ErrNoAuth {
		t.Errorf("setData without auth: %v, want NoAuth", err)
	}
	if err := other.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/lock"}, nil); err != jute.ErrNoAuth {
		t.Errorf("getData without auth: %v, want NoAuth", err)
	}
	if err := owner.call(jute.OpSetData, &jute.SetDataRequest{Path: "/sec", Data: []byte("o"), Version: -1}, nil); err != jute.ErrOK {
		t.Errorf("setData with auth: %v", err)
	}
	// Without ADMIN, getACL masks digest hashes (ZooKeeper 3.8).
	var ga jute.GetACLResponse
	if err := other.call(jute.OpGetACL, &jute.PathRequest{Path: "/sec"}, &ga); err != jute.ErrOK {
		t.Fatalf("getACL with READ: %v", err)
	}
	if len(ga.ACL) != 2 || ga.ACL[0].ID.ID != "user:x" || ga.ACL[1] != secACL[1] {
		t.Errorf("getACL without ADMIN: %+v, want the digest masked as user:x", ga.ACL)
	}
	if err := owner.call(jute.OpGetACL, &jute.PathRequest{Path: "/sec"}, &ga); err != jute.ErrOK || ga.ACL[0].ID.ID != digest {
		t.Errorf("getACL with ADMIN: %v %+v", err, ga.ACL)
	}
	// The super identity bypasses every ACL.
	if err := super.call(jute.OpSetData, &jute.SetDataRequest{Path: "/lock", Data: []byte("z"), Version: -1}, nil); err != jute.ErrOK {
		t.Errorf("super setData: %v", err)
	}
	if err := super.call(jute.OpDelete, &jute.PathVersionRequest{Path: "/lock", Version: -1}, nil); err != jute.ErrOK {
		t.Errorf("super delete: %v", err)
	}
	// An unknown scheme fails authentication and closes the connection.
	other.mustWrite(e2eRequest(jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: "bogus", Auth: []byte("x")}))
	if h, _ := other.next(); h.Xid != jute.XidAuth || h.Err != jute.ErrAuthFailed {
		t.Errorf("auth with unknown scheme: %+v, want AuthFailed", h)
	}
	other.expectClosed("after AuthFailed")
}

// TestE2EAuthReplyEchoesXid: ZooKeeper answers auth with the request's
// own xid (the Java client happens to use -4; go-zookeeper uses an
// ordinary xid and matches the reply by it).
func TestE2EAuthReplyEchoesXid(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawSession(t, addr)
	r.mustWrite(e2eRequest(7, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("user:pass")}))
	h, _, err := r.readReply(e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	if h.Xid != 7 || h.Err != jute.ErrOK {
		t.Errorf("auth reply header %+v, want xid 7 err OK", h)
	}
	r.mustWrite(e2eRequest(8, jute.OpAuth, &jute.AuthPacket{Scheme: "bogus", Auth: []byte("x")}))
	if h, _, err := r.readReply(e2eWait); err != nil || h.Xid != 8 || h.Err != jute.ErrAuthFailed {
		t.Errorf("failed auth reply header %+v (%v), want xid 8 err AuthFailed", h, err)
	}
}

// TestE2EDeleteChecksParentACLFirst: ZooKeeper checks DELETE on the parent
// before looking the child up, so a session without DELETE learns nothing
// about which children exist.
func TestE2EDeleteChecksParentACLFirst(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	if _, err := c.Create("/nd", nil, 0, zk.WorldACL(zk.PermRead|zk.PermCreate)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/nd/kid", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/nd/kid", -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("delete existing child without DELETE on parent: %v, want ErrNoAuth", err)
	}
	if err := c.Delete("/nd/missing", -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("delete missing child without DELETE on parent: %v, want ErrNoAuth (as ZooKeeper 3.8)", err)
	}
}

func TestE2EMulti(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	if _, err := c.Create("/m", []byte("0"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}

	res, err := c.Multi(
		&zk.CreateRequest{Path: "/m/a", Data: []byte("a"), Acl: e2eOpenACL},
		&zk.CreateRequest{Path: "/m/s-", Acl: e2eOpenACL, Flags: zk.FlagSequence},
		&zk.SetDataRequest{Path: "/m", Data: []byte("1"), Version: 0},
		&zk.CheckVersionRequest{Path: "/m", Version: 1},
		&zk.DeleteRequest{Path: "/m/a", Version: 0},
	)
	if err != nil {
		t.Fatalf("multi: %v", err)
	}
	if len(res) != 5 || res[0].String != "/m/a" || !regexp.MustCompile(`^/m/s-\d{10}$`).MatchString(res[1].String) ||
		res[2].Stat == nil || res[2].Stat.Version != 1 {
		t.Fatalf("multi results: %+v", res)
	}
	for i, r := range res {
		if r.Error != nil {
			t.Errorf("multi result %d: %v", i, r.Error)
		}
	}
	if d, st, _ := c.Get("/m"); string(d) != "1" || st.Version != 1 {
		t.Errorf("/m after multi: %q version %d", d, st.Version)
	}
	_, before, _ := c.Get("/m")

	// A failing op: nothing of the multi is applied, and its watches do
	// not fire.
	_, _, watch, err := c.ExistsW("/m/c")
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Multi(
		&zk.CreateRequest{Path: "/m/c", Acl: e2eOpenACL},
		&zk.SetDataRequest{Path: "/m", Data: []byte("2"), Version: -1},
		&zk.DeleteRequest{Path: "/m/missing", Version: -1},
		&zk.CreateRequest{Path: "/m/d", Acl: e2eOpenACL},
	)
	if !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("failing multi: %v, want ErrNoNode", err)
	}
	if len(res) != 4 || res[0].Error != nil || res[1].Error != nil || !errors.Is(res[2].Error, zk.ErrNoNode) || res[3].Error == nil {
		t.Errorf("failing multi per-op results: %+v (want ok, ok, NoNode, RuntimeInconsistency)", res)
	}
	for _, p := range []string{"/m/c", "/m/d"} {
		if ok, _, _ := c.Exists(p); ok {
			t.Errorf("%s exists after a failed multi", p)
		}
	}
	if d, st, _ := c.Get("/m"); string(d) != "1" || *st != *before {
		t.Errorf("/m changed by a failed multi: %q %+v, was %+v", d, st, before)
	}
	select {
	case ev := <-watch:
		t.Errorf("failed multi fired a watch: %+v", ev)
	default: // the Get above was answered after any event the multi fired
	}

	res, err = c.Multi(
		&zk.SetDataRequest{Path: "/m", Data: []byte("3"), Version: -1},
		&zk.CheckVersionRequest{Path: "/m", Version: 7},
	)
	if !errors.Is(err, zk.ErrBadVersion) || len(res) != 2 || !errors.Is(res[1].Error, zk.ErrBadVersion) {
		t.Errorf("multi with a failing check: %v %+v, want ErrBadVersion", err, res)
	}
	if d, _, _ := c.Get("/m"); string(d) != "1" {
		t.Errorf("/m after a failed check: %q, want 1", d)
	}
}

// TestE2ESequentialCounter: the sequence suffix comes from the parent's
// cversion, one counter per parent shared by every create mode and every
// session.
func TestE2ESequentialCounter(t *testing.T) {
	addr := e2eStart(t)
	a := e2eConnect(t, addr)
	b := e2eConnect(t, addr)
	for _, p := range []string{"/q1", "/q2"} {
		if _, err := a.Create(p, nil, 0, e2eOpenACL); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i := 0; i < 12; i++ {
		c := a
		flags := int32(zk.FlagSequence)
		if i%2 == 1 {
			c, flags = b, zk.FlagEphemeralSequential
		}
		n, err := c.Create("/q1/n-", nil, flags, e2eOpenACL)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
		if i == 5 { // a plain create in between also counts
			if _, err := a.Create("/q1/plain", nil, 0, e2eOpenACL); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range names {
		want := i
		if i > 5 {
			want = i + 1
		}
		if n != fmt.Sprintf("/q1/n-%010d", want) {
			t.Errorf("create %d: %q, want suffix %010d", i, n, want)
		}
	}
	// Another parent has its own counter.
	if n, err := b.Create("/q2/x", nil, zk.FlagSequence, e2eOpenACL); err != nil || n != "/q2/x0000000000" {
		t.Errorf("first sequential under /q2: %q %v", n, err)
	}
	// A sequential create may end in "/": the name is just the number.
	if n, err := a.Create("/q2/", nil, zk.FlagSequence, e2eOpenACL); err != nil || n != "/q2/0000000001" {
		t.Errorf("sequential create of /q2/: %q %v", n, err)
	}
	_, st, _ := a.Get("/q1")
	if st.Cversion != 13 || st.NumChildren != 13 {
		t.Errorf("/q1 cversion %d numChildren %d, want 13 and 13", st.Cversion, st.NumChildren)
	}
}

// TestE2EParentCversionCountsDeletes: in ZooKeeper a child's deletion
// increments the parent's Stat.cversion (the count of child changes),
// whether the child is deleted by a client or by its session ending. The
// sequence counter is not moved by deletes.
func TestE2EParentCversionCountsDeletes(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	if _, err := c.Create("/cv", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/cv/a", nil, 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	_, st, _ := c.Get("/cv")
	if st.Cversion != 1 {
		t.Fatalf("cversion after one create: %d", st.Cversion)
	}
	pzxid := st.Pzxid
	if err := c.Delete("/cv/a", -1); err != nil {
		t.Fatal(err)
	}
	_, st, _ = c.Get("/cv")
	if st.Pzxid <= pzxid {
		t.Errorf("pzxid did not advance on delete: %d", st.Pzxid)
	}
	if st.Cversion != 2 {
		t.Errorf("cversion after create+delete: %d, want 2 (ZooKeeper 3.8 counts deletes)", st.Cversion)
	}
	if n, err := c.Create("/cv/s", nil, zk.FlagSequence, e2eOpenACL); err != nil || n != "/cv/s0000000001" {
		t.Errorf("sequential after a delete: %q %v, want /cv/s0000000001 (as ZooKeeper 3.8)", n, err)
	}

	e := e2eConnect(t, addr)
	if _, err := e.Create("/cv/eph", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	_, before, _ := c.Get("/cv")
	_, _, w, err := c.ExistsW("/cv/eph")
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	select {
	case <-w:
	case <-time.After(e2eWait):
		t.Fatal("ephemeral not deleted on close")
	}
	_, after, _ := c.Get("/cv")
	if after.Cversion != before.Cversion+1 {
		t.Errorf("cversion %d after the session's ephemeral went, want %d", after.Cversion, before.Cversion+1)
	}
}

// TestE2ENullData: a node created with null data reads back as null, as in
// ZooKeeper (go-zookeeper then returns nil, not an empty slice).
func TestE2ENullData(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawSession(t, addr)
	if err := r.call(jute.OpCreate, &jute.CreateRequest{Path: "/null", Data: nil, ACL: e2eWorld}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}
	r.xid++
	r.mustWrite(e2eRequest(r.xid, jute.OpGetData, &jute.PathWatchRequest{Path: "/null"}))
	h, body := r.next()
	if h.Err != jute.ErrOK || len(body) < 4 {
		t.Fatalf("getData: %+v", h)
	}
	if n := int32(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])); n != -1 {
		t.Errorf("data length on the wire %d, want -1 (null)", n)
	}
}

// TestE2ECreate2 sends create2 (opcode 15), which go-zookeeper never
// sends: the reply carries the final path and the new node's Stat.
func TestE2ECreate2(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawSession(t, addr)
	r.xid++
	r.mustWrite(e2eRequest(r.xid, jute.OpCreate2, &jute.CreateRequest{Path: "/c2-", Data: []byte("abc"), ACL: e2eWorld, Flags: jute.ModeEphemeralSequential}))
	h, body := r.next()
	if h.Err != jute.ErrOK {
		t.Fatalf("create2: %v", h.Err)
	}
	var rsp jute.Create2Response
	if err := jute.Unmarshal(body, &rsp); err != nil {
		t.Fatal(err)
	}
	st := rsp.Stat
	if !regexp.MustCompile(`^/c2-\d{10}$`).MatchString(rsp.Path) || st.Czxid != h.Zxid || st.Mzxid != h.Zxid ||
		st.Pzxid != h.Zxid || st.DataLength != 3 || st.EphemeralOwner != r.sessionID || st.Version != 0 {
		t.Errorf("create2 reply: path %q stat %+v (reply zxid %d)", rsp.Path, st, h.Zxid)
	}
	var ex jute.StatResponse
	if err := r.call(jute.OpExists, &jute.PathWatchRequest{Path: rsp.Path}, &ex); err != jute.ErrOK || ex.Stat != st {
		t.Errorf("exists after create2: %v %+v, want %+v", err, ex.Stat, st)
	}
}
