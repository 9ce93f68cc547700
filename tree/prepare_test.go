package tree

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"zkd/netio/jute"
)

var (
	digestU   = jute.ID{Scheme: "digest", ID: DigestOf("u:pw")}
	digestV   = jute.ID{Scheme: "digest", ID: DigestOf("v:pw")}
	ipLocal   = jute.ID{Scheme: "ip", ID: "127.0.0.1"}
	readOnly  = []jute.ACL{{Perms: jute.PermRead, ID: AnyoneID}}
	noneACL   = []jute.ACL{{Perms: 0, ID: AnyoneID}}
	allButAdm = []jute.ACL{{Perms: jute.PermAll &^ jute.PermAdmin, ID: AnyoneID}}
)

const ephSession = 0x10

// prepEnv builds the tree the Prepare tables run against:
//
//	/p        open
//	/p/full   open, with a child /p/full/c
//	/p/v      open, version 2, aversion 1
//	/noc      READ only (no CREATE, DELETE, WRITE, ADMIN)
//	/noc/x    open
//	/none     no permissions at all
//	/nadm     all but ADMIN
//	/e        ephemeral of session 0x10
//	/ttl      TTL node
//	/cont     container
//	/u        digest u:pw only
func prepEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.session(ephSession)
	super := []jute.ID{SuperID}
	mk := func(path string, acl []jute.ACL) {
		t.Helper()
		if _, res, _ := e.do(createACLReq(1, path, acl, super)); res.Err != jute.ErrOK {
			t.Fatalf("setup %s: %v", path, res.Err)
		}
	}
	mk("/p", OpenACLUnsafe)
	mk("/p/full", OpenACLUnsafe)
	mk("/p/full/c", OpenACLUnsafe)
	mk("/p/v", OpenACLUnsafe)
	e.do(setDataReq("/p/v", "1", -1))
	e.do(setDataReq("/p/v", "2", -1))
	e.do(setACLReq("/p/v", OpenACLUnsafe, -1))
	mk("/noc", readOnly)
	mk("/noc/x", OpenACLUnsafe)
	mk("/none", noneACL)
	mk("/nadm", allButAdm)
	mk("/u", []jute.ACL{{Perms: jute.PermAll, ID: digestU}})
	if _, res, _ := e.do(createReq(ephSession, "/e", "", jute.ModeEphemeral)); res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	if _, res, _ := e.do(Request{Session: 1, Op: jute.OpCreateTTL, Create: &jute.CreateRequest{Path: "/ttl", ACL: OpenACLUnsafe, Flags: jute.ModePersistentWithTTL, TTL: 1000, HasTTL: true}}); res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	if _, res, _ := e.do(Request{Session: 1, Op: jute.OpCreateContainer, Create: &jute.CreateRequest{Path: "/cont", ACL: OpenACLUnsafe, Flags: jute.ModeContainer}}); res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	if st := e.stat("/p/v"); st.Version != 2 || st.Aversion != 1 {
		t.Fatalf("setup /p/v: %+v", st)
	}
	return e
}

// prep prepares r without applying it.
func (e *env) prepOnly(r Request) Txn {
	e.now++
	return e.prep.Prepare(&r, e.now)
}

func txnErr(x Txn) jute.Err {
	if x.Type == jute.OpError {
		return x.Err
	}
	return jute.ErrOK
}

func TestPrepareCreate(t *testing.T) {
	badACLs := map[string][]jute.ACL{
		"nil":           nil,
		"empty":         {},
		"world bob":     {{Perms: 31, ID: jute.ID{Scheme: "world", ID: "bob"}}},
		"world Anyone":  {{Perms: 31, ID: jute.ID{Scheme: "world", ID: "Anyone"}}},
		"digest no :":   {{Perms: 31, ID: jute.ID{Scheme: "digest", ID: "user"}}},
		"digest a:b:c":  {{Perms: 31, ID: jute.ID{Scheme: "digest", ID: "a:b:c"}}},
		"digest a:":     {{Perms: 31, ID: jute.ID{Scheme: "digest", ID: "a:"}}},
		"ip v6":         {{Perms: 31, ID: jute.ID{Scheme: "ip", ID: "::1"}}},
		"ip /33":        {{Perms: 31, ID: jute.ID{Scheme: "ip", ID: "10.0.0.0/33"}}},
		"ip 256":        {{Perms: 31, ID: jute.ID{Scheme: "ip", ID: "256.0.0.1"}}},
		"foo":           {{Perms: 31, ID: jute.ID{Scheme: "foo", ID: "x"}}},
		"super":         {{Perms: 31, ID: jute.ID{Scheme: "super", ID: ""}}},
		"sasl":          {{Perms: 31, ID: jute.ID{Scheme: "sasl", ID: "x"}}},
		"auth":          {{Perms: 31, ID: jute.ID{Scheme: "auth", ID: ""}}},
		"good then bad": {{Perms: 31, ID: AnyoneID}, {Perms: 31, ID: jute.ID{Scheme: "foo", ID: "x"}}},
	}
	type tc struct {
		name     string
		op       jute.Op
		path     string
		flags    int32
		ttl      int64
		acl      []jute.ACL // nil: open
		auth     []jute.ID
		noExt    bool // ExtendedTypes off
		want     jute.Err
		wantPath string
	}
	tests := []tc{
		// 1. Flags.
		{name: "flags -1", path: "/p/a", flags: -1, want: jute.ErrBadArguments},
		{name: "flags 7", path: "/p/a", flags: 7, want: jute.ErrBadArguments},
		{name: "flags 7 beats everything", path: "nope", flags: 7, acl: []jute.ACL{}, want: jute.ErrBadArguments},
		// 2. TTL modes need extended types.
		{name: "ttl off", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: 100, noExt: true, want: jute.ErrUnimplemented},
		{name: "ttl seq off", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentSequentialWithTTL, ttl: 100, noExt: true, want: jute.ErrUnimplemented},
		{name: "ttl mode with create, off", op: jute.OpCreate, path: "/p/a", flags: jute.ModePersistentWithTTL, noExt: true, want: jute.ErrUnimplemented},
		{name: "ttl off beats bad ttl and acl", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: 0, acl: []jute.ACL{}, noExt: true, want: jute.ErrUnimplemented},
		{name: "non-ttl createTTL, off", op: jute.OpCreateTTL, path: "/p/a", flags: 0, ttl: 100, noExt: true, want: jute.ErrBadArguments},
		// 3. TTL range (0, 0xffffffffff].
		{name: "ttl 0", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: 0, want: jute.ErrBadArguments},
		{name: "ttl -1", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: -1, want: jute.ErrBadArguments},
		{name: "ttl too big", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: jute.TTLMax + 1, want: jute.ErrBadArguments},
		{name: "ttl bad beats acl", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: 0, acl: []jute.ACL{}, want: jute.ErrBadArguments},
		{name: "ttl 1", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: 1, wantPath: "/p/a"},
		{name: "ttl max", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistentWithTTL, ttl: jute.TTLMax, wantPath: "/p/a"},
		{name: "ttl mode with create", op: jute.OpCreate, path: "/p/a", flags: jute.ModePersistentWithTTL, want: jute.ErrBadArguments},
		{name: "ttl mode with create2", op: jute.OpCreate2, path: "/p/a", flags: jute.ModePersistentSequentialWithTTL, want: jute.ErrBadArguments},
		{name: "ttl mode with createContainer", op: jute.OpCreateContainer, path: "/p/a", flags: jute.ModePersistentWithTTL, want: jute.ErrBadArguments},
		{name: "createTTL persistent", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistent, ttl: 100, want: jute.ErrBadArguments},
		{name: "createTTL persistent ttl -1", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModePersistent, ttl: -1, want: jute.ErrBadArguments},
		{name: "createTTL container", op: jute.OpCreateTTL, path: "/p/a", flags: jute.ModeContainer, ttl: -1, want: jute.ErrBadArguments},
		// 4. The cheap path check: a "/" somewhere and no NUL.
		{name: "empty path", path: "", want: jute.ErrBadArguments},
		{name: "no slash", path: "a", want: jute.ErrBadArguments},
		{name: "no slash beats acl", path: "a", acl: []jute.ACL{}, want: jute.ErrBadArguments},
		{name: "nul", path: "/p/a\x00", want: jute.ErrBadArguments},
		{name: "nul beats acl", path: "/p/a\x00", acl: []jute.ACL{}, want: jute.ErrBadArguments},
		// 5. ACL (then NoNode, NoAuth, full path check).
		{name: "invalid acl beats no node", path: "/missing/a", acl: []jute.ACL{}, want: jute.ErrInvalidACL},
		{name: "invalid acl beats bad path", path: "/p/", acl: []jute.ACL{}, want: jute.ErrInvalidACL},
		{name: "auth with ip only", path: "/p/a", acl: badACLs["auth"], auth: []jute.ID{ipLocal}, want: jute.ErrInvalidACL},
		{name: "auth with super only", path: "/p/a", acl: badACLs["auth"], auth: []jute.ID{SuperID}, want: jute.ErrInvalidACL},
		// 6. Parent.
		{name: "no parent", path: "/missing/a", want: jute.ErrNoNode},
		{name: "relative", path: "a/b", want: jute.ErrNoNode},
		{name: "dot parent", path: "/p/./a", want: jute.ErrNoNode},
		{name: "trailing slash, missing parent", path: "/missing/a/", want: jute.ErrNoNode},
		{name: "bad char, missing parent", path: "/missing\x01/a", want: jute.ErrNoNode},
		// 7. CREATE on the parent.
		{name: "no create", path: "/noc/a", want: jute.ErrNoAuth},
		{name: "no create, bad path", path: "/noc/.", want: jute.ErrNoAuth},
		{name: "no create, trailing slash", path: "/noc/", want: jute.ErrNoAuth},
		{name: "no create, exists", path: "/noc/x", want: jute.ErrNoAuth},
		{name: "no perms", path: "/none/a", want: jute.ErrNoAuth},
		{name: "super", path: "/none/a", auth: []jute.ID{SuperID}, wantPath: "/none/a"},
		{name: "digest no match", path: "/u/a", auth: []jute.ID{digestV, ipLocal}, want: jute.ErrNoAuth},
		{name: "digest match", path: "/u/a", auth: []jute.ID{ipLocal, digestU}, wantPath: "/u/a"},
		// 8. The full path check, after the suffix.
		{name: "trailing slash", path: "/p/", want: jute.ErrBadArguments},
		{name: "dot", path: "/p/.", want: jute.ErrBadArguments},
		{name: "dotdot", path: "/p/..", want: jute.ErrBadArguments},
		{name: "double slash", path: "//", want: jute.ErrBadArguments},
		{name: "double slash inside", path: "/p//a", want: jute.ErrNoNode}, // parent "/p/" is not found
		{name: "control char", path: "/p/a\x01", want: jute.ErrBadArguments},
		{name: "emoji", path: "/p/\U0001F600", want: jute.ErrBadArguments},
		{name: "bad utf8", path: "/p/\xff", want: jute.ErrBadArguments},
		// 9. Existence.
		{name: "exists", path: "/p", want: jute.ErrNodeExists},
		{name: "root", path: "/", want: jute.ErrNodeExists},
		{name: "zookeeper", path: "/zookeeper", want: jute.ErrNodeExists},
		{name: "ephemeral exists", path: "/e", flags: jute.ModeEphemeral, want: jute.ErrNodeExists},
		// 10. Ephemeral parent.
		{name: "under ephemeral", path: "/e/a", want: jute.ErrNoChildrenForEphemerals},
		{name: "seq under ephemeral", path: "/e/", flags: jute.ModePersistentSequential, want: jute.ErrNoChildrenForEphemerals},
		{name: "under ttl", path: "/ttl/a", wantPath: "/ttl/a"},
		{name: "under container", path: "/cont/a", wantPath: "/cont/a"},
		// Success shapes.
		{name: "plain", path: "/p/a", wantPath: "/p/a"},
		{name: "unicode", path: "/p/é\u00a0", wantPath: "/p/é\u00a0"},
		{name: "sequential", path: "/p/s-", flags: jute.ModePersistentSequential, wantPath: "/p/s-0000000002"},
		{name: "sequential dir", path: "/p/", flags: jute.ModePersistentSequential, wantPath: "/p/0000000002"},
		{name: "sequential root", path: "/", flags: jute.ModeEphemeralSequential, wantPath: "/0000000008"},
		{name: "createContainer flags 0", op: jute.OpCreateContainer, path: "/p/c", flags: 0, wantPath: "/p/c"},
		{name: "createContainer seq", op: jute.OpCreateContainer, path: "/p/c", flags: jute.ModePersistentSequential, wantPath: "/p/c0000000002"},
		{name: "createContainer ephemeral flag", op: jute.OpCreateContainer, path: "/p/c", flags: jute.ModeEphemeral, wantPath: "/p/c"},
		{name: "create container flag", op: jute.OpCreate, path: "/p/c", flags: jute.ModeContainer, wantPath: "/p/c"},
	}
	for name, acl := range badACLs {
		tests = append(tests, tc{name: "acl " + name, path: "/p/a", acl: acl, want: jute.ErrInvalidACL})
		if acl == nil {
			tests[len(tests)-1].acl = []jute.ACL{}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := prepEnv(t)
			e.prep.ExtendedTypes = !tc.noExt
			op := tc.op
			if op == 0 {
				op = jute.OpCreate
			}
			acl := tc.acl
			if acl == nil {
				acl = OpenACLUnsafe
			}
			r := Request{Session: 0x77, Op: op, Auth: tc.auth, Create: &jute.CreateRequest{
				Path: tc.path, Data: []byte("d"), ACL: acl, Flags: tc.flags, TTL: tc.ttl, HasTTL: op == jute.OpCreateTTL,
			}}
			before := e.tr.Digest()
			zxid := e.prep.LastZxid()
			x, res, _ := e.do(r)
			if x.Zxid != zxid+1 {
				t.Fatalf("zxid %d, want %d", x.Zxid, zxid+1)
			}
			if got := txnErr(x); got != tc.want {
				t.Fatalf("Prepare: %v, want %v", got, tc.want)
			}
			if res.Err != tc.want {
				t.Fatalf("Apply: %v, want %v", res.Err, tc.want)
			}
			if tc.want != jute.ErrOK {
				if x.Type != jute.OpError || x.Path != "" || x.Session != 0x77 || x.Time != e.now {
					t.Fatalf("error txn %+v", x)
				}
				if e.tr.Digest() != before || e.prep.Pending() != 0 {
					t.Fatalf("a failed create changed something")
				}
				return
			}
			if x.Type != op || x.Path != tc.wantPath || res.Path != tc.wantPath {
				t.Fatalf("txn %v %q, result %q; want %v %q", x.Type, x.Path, res.Path, op, tc.wantPath)
			}
			n, ok := e.tr.Get(tc.wantPath)
			if !ok {
				t.Fatalf("%s not created", tc.wantPath)
			}
			var wantOwner int64
			switch {
			case op == jute.OpCreateContainer:
				wantOwner = jute.ContainerEphemeralOwner
			case op == jute.OpCreateTTL:
				wantOwner = jute.TTLOwner(tc.ttl)
			case tc.flags == jute.ModeEphemeral || tc.flags == jute.ModeEphemeralSequential:
				wantOwner = 0x77
			}
			if x.Owner != wantOwner || n.Owner() != wantOwner {
				t.Fatalf("owner %#x / %#x, want %#x", x.Owner, n.Owner(), wantOwner)
			}
			parentPath, _ := SplitPath(tc.wantPath)
			if x.Version != storedCversion(e.tr, parentPath) {
				t.Fatalf("txn parent cversion %d, tree %d", x.Version, storedCversion(e.tr, parentPath))
			}
		})
	}
}

// TestPrepareCreateTxn checks the txn a create carries: final path, data,
// fixed-up ACL, owner and the parent's next cversion.
func TestPrepareCreateTxn(t *testing.T) {
	e := prepEnv(t)
	x := e.prepOnly(Request{Session: 0x10, Cxid: 42, Op: jute.OpCreate2, Auth: []jute.ID{ipLocal, digestU, digestV}, Create: &jute.CreateRequest{
		Path: "/p/n-", ACL: []jute.ACL{
			{Perms: jute.PermRead, ID: AnyoneID},
			{Perms: jute.PermAll, ID: jute.ID{Scheme: "auth", ID: "ignored"}},
			{Perms: jute.PermRead, ID: AnyoneID},
		},
		Flags: jute.ModeEphemeralSequential,
	}})
	want := Txn{
		Zxid: x.Zxid, Time: e.now, Session: 0x10, Cxid: 42, Type: jute.OpCreate2,
		Path: "/p/n-0000000002", Data: nil,
		ACL: []jute.ACL{
			{Perms: jute.PermRead, ID: AnyoneID},
			{Perms: jute.PermAll, ID: digestU},
			{Perms: jute.PermAll, ID: digestV},
		},
		Owner: 0x10, Version: 3,
	}
	if !reflect.DeepEqual(x, want) {
		t.Fatalf("txn\n %+v\nwant\n %+v", x, want)
	}
}

// TestNullData: ZooKeeper keeps null data apart from empty data (getData
// answers length -1 for null), through create, setData and the log; its
// own system nodes hold empty data.
func TestNullData(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		if n, _ := e.tr.Get(p); n.Data() == nil {
			t.Errorf("%s: null data, ZooKeeper has empty", p)
		}
	}
	isNull := func(path string) bool {
		t.Helper()
		n, ok := e.tr.Get(path)
		if !ok {
			t.Fatalf("%s missing", path)
		}
		return n.Data() == nil
	}
	e.do(Request{Session: 1, Op: jute.OpCreate, Create: &jute.CreateRequest{Path: "/null", ACL: OpenACLUnsafe}})
	e.do(Request{Session: 1, Op: jute.OpCreate, Create: &jute.CreateRequest{Path: "/empty", Data: []byte{}, ACL: OpenACLUnsafe}})
	e.do(multiReq(jute.MultiOp{Op: jute.OpCreate, Create: jute.CreateRequest{Path: "/mnull", ACL: OpenACLUnsafe}}))
	if !isNull("/null") || isNull("/empty") || !isNull("/mnull") {
		t.Fatalf("create: null %v empty %v", isNull("/null"), isNull("/empty"))
	}
	e.do(setDataReq("/null", "", -1))                                                                         // empty
	e.do(Request{Session: 1, Op: jute.OpSetData, SetData: &jute.SetDataRequest{Path: "/empty", Version: -1}}) // null
	if isNull("/null") || !isNull("/empty") {
		t.Fatalf("setData: null %v empty %v", isNull("/null"), isNull("/empty"))
	}
	if st := e.stat("/empty"); st.DataLength != 0 {
		t.Fatalf("null data length %d", st.DataLength)
	}
}

func TestPrepareSequential(t *testing.T) {
	e := newEnv(t)
	e.create("/q", "", 0)
	// Two sequential creates prepared before either is applied get
	// consecutive suffixes, from the parent's cversion as the overlay
	// sees it.
	x1 := e.prepOnly(createReq(1, "/q/n-", "", jute.ModePersistentSequential))
	x2 := e.prepOnly(createReq(1, "/q/n-", "", jute.ModeEphemeralSequential))
	x3 := e.prepOnly(createReq(1, "/q/", "", jute.ModePersistentSequential))
	if x1.Path != "/q/n-0000000000" || x2.Path != "/q/n-0000000001" || x3.Path != "/q/0000000002" {
		t.Fatalf("paths %s %s %s", x1.Path, x2.Path, x3.Path)
	}
	if x1.Version != 1 || x2.Version != 2 || x3.Version != 3 {
		t.Fatalf("parent cversions %d %d %d", x1.Version, x2.Version, x3.Version)
	}
	for _, x := range []*Txn{&x1, &x2, &x3} {
		if res, _ := e.tr.Apply(x, nil); res.Err != jute.ErrOK {
			t.Fatal(res.Err)
		}
	}
	e.prep.Applied(x3.Zxid)
	// A delete does not change the stored cversion: the suffix goes on.
	e.do(deleteReq("/q/n-0000000001", -1))
	if _, res, _ := e.do(createReq(1, "/q/n-", "", jute.ModePersistentSequential)); res.Path != "/q/n-0000000003" {
		t.Fatalf("after delete: %s", res.Path)
	}
	// Clients see cversion = creates + deletes = 5.
	if st := e.stat("/q"); st.Cversion != 5 || st.NumChildren != 3 {
		t.Fatalf("/q stat %+v", st)
	}
	// A fresh root has cversion 0 stored: "/" + sequential is /0000000000
	// in a fresh ZooKeeper; here /q came first.
	if _, res, _ := e.do(createReq(1, "/", "", jute.ModePersistentSequential)); res.Path != "/0000000001" {
		t.Fatalf("root sequential: %s", res.Path)
	}
	// A negative cversion formats as Java's %010d does.
	if got := fmt.Sprintf("%010d", int32(-5)); got != "-000000005" {
		t.Fatalf("%%010d of -5 = %q", got)
	}
}

func TestPrepareDelete(t *testing.T) {
	tests := []struct {
		name    string
		op      jute.Op
		path    string
		version int32
		auth    []jute.ID
		want    jute.Err
	}{
		{"root", jute.OpDelete, "/", -1, nil, jute.ErrBadArguments},
		{"zookeeper", jute.OpDelete, "/zookeeper", -1, nil, jute.ErrBadArguments},
		{"quota", jute.OpDelete, "/zookeeper/quota", -1, nil, jute.ErrBadArguments},
		{"config", jute.OpDelete, "/zookeeper/config", -1, nil, jute.ErrBadArguments},
		{"config super", jute.OpDelete, "/zookeeper/config", -1, []jute.ID{SuperID}, jute.ErrBadArguments},
		{"empty", jute.OpDelete, "", -1, nil, jute.ErrBadArguments},
		{"no slash", jute.OpDelete, "p", -1, nil, jute.ErrBadArguments},
		{"nul", jute.OpDelete, "/p/v\x00", -1, nil, jute.ErrBadArguments},
		{"no parent", jute.OpDelete, "/missing/x", -1, nil, jute.ErrNoNode},
		{"no node", jute.OpDelete, "/p/missing", -1, nil, jute.ErrNoNode},
		{"trailing slash", jute.OpDelete, "/p/", -1, nil, jute.ErrNoNode},
		{"dot", jute.OpDelete, "/p/.", -1, nil, jute.ErrNoNode},
		{"relative", jute.OpDelete, "p/v", -1, nil, jute.ErrNoNode},
		{"no delete perm", jute.OpDelete, "/noc/x", -1, nil, jute.ErrNoAuth},
		{"no delete perm beats no node", jute.OpDelete, "/noc/missing", -1, nil, jute.ErrNoAuth},
		{"no delete perm beats bad version", jute.OpDelete, "/noc/x", 9, nil, jute.ErrNoAuth},
		{"super", jute.OpDelete, "/noc/x", -1, []jute.ID{SuperID}, jute.ErrOK},
		{"digest", jute.OpDelete, "/u", -1, []jute.ID{digestU}, jute.ErrOK}, // root's ACL decides
		{"bad version", jute.OpDelete, "/p/v", 1, nil, jute.ErrBadVersion},
		{"bad version beats not empty", jute.OpDelete, "/p/full", 3, nil, jute.ErrBadVersion},
		{"right version", jute.OpDelete, "/p/v", 2, nil, jute.ErrOK},
		{"any version", jute.OpDelete, "/p/v", -1, nil, jute.ErrOK},
		{"not empty", jute.OpDelete, "/p/full", -1, nil, jute.ErrNotEmpty},
		{"ephemeral", jute.OpDelete, "/e", 0, nil, jute.ErrOK},
		{"ttl", jute.OpDelete, "/ttl", -1, nil, jute.ErrOK},
		// deleteContainer: no ACL or version check; a real ephemeral is
		// BadVersion.
		{"dc no node", jute.OpDeleteContainer, "/p/missing", -1, nil, jute.ErrNoNode},
		{"dc special", jute.OpDeleteContainer, "/zookeeper", -1, nil, jute.ErrBadArguments},
		{"dc not empty", jute.OpDeleteContainer, "/p/full", -1, nil, jute.ErrNotEmpty},
		{"dc ephemeral", jute.OpDeleteContainer, "/e", -1, nil, jute.ErrBadVersion},
		{"dc container", jute.OpDeleteContainer, "/cont", 77, nil, jute.ErrOK},
		{"dc ttl", jute.OpDeleteContainer, "/ttl", -1, nil, jute.ErrOK},
		{"dc persistent without perms", jute.OpDeleteContainer, "/noc/x", -1, nil, jute.ErrOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := prepEnv(t)
			parentPath, _ := SplitPath(tc.path)
			var parentBefore jute.Stat
			if p, ok := e.tr.Get(parentPath); ok {
				parentBefore = p.Stat()
			}
			before := e.tr.Digest()
			x, res, _ := e.do(Request{Session: 1, Op: tc.op, Auth: tc.auth, Delete: &jute.PathVersionRequest{Path: tc.path, Version: tc.version}})
			if got := txnErr(x); got != tc.want || res.Err != tc.want {
				t.Fatalf("Prepare %v, Apply %v; want %v", got, res.Err, tc.want)
			}
			if tc.want != jute.ErrOK {
				if e.tr.Digest() != before {
					t.Fatalf("failed delete changed the tree")
				}
				return
			}
			if x.Type != tc.op || x.Path != tc.path {
				t.Fatalf("txn %+v", x)
			}
			if _, ok := e.tr.Get(tc.path); ok {
				t.Fatalf("%s still there", tc.path)
			}
			st := e.stat(parentPath)
			if st.Pzxid != x.Zxid || st.NumChildren != parentBefore.NumChildren-1 || st.Cversion != parentBefore.Cversion+1 {
				t.Fatalf("parent before %+v after %+v", parentBefore, st)
			}
		})
	}
}

// TestPrepareOverlay: requests see earlier prepared-but-unapplied ones.
func TestPrepareOverlay(t *testing.T) {
	e := newEnv(t)
	e.create("/o", "", 0)
	e.create("/o/gone", "", 0)
	pending := []Txn{
		e.prepOnly(createReq(1, "/o/a", "", 0)),
		e.prepOnly(createReq(1, "/o/a/b", "", 0)),
		e.prepOnly(deleteReq("/o/gone", -1)),
		e.prepOnly(setDataReq("/o", "x", -1)),
	}
	for i, x := range pending {
		if x.Type == jute.OpError {
			t.Fatalf("pending %d failed: %v", i, x.Err)
		}
	}
	checks := []struct {
		name string
		r    Request
		want jute.Err
	}{
		{"create exists in overlay", createReq(1, "/o/a", "", 0), jute.ErrNodeExists},
		{"parent exists in overlay", createReq(1, "/o/a/c", "", 0), jute.ErrOK},
		{"not empty through overlay", deleteReq("/o/a", -1), jute.ErrNotEmpty},
		{"deleted in overlay", deleteReq("/o/gone", -1), jute.ErrNoNode},
		{"setData on deleted", setDataReq("/o/gone", "", -1), jute.ErrNoNode},
		{"version from overlay", setDataReq("/o", "y", 1), jute.ErrOK},
		{"old version refused", setDataReq("/o", "y", 0), jute.ErrBadVersion},
		{"recreate deleted", createReq(1, "/o/gone", "", 0), jute.ErrOK},
	}
	for _, c := range checks {
		x := e.prepOnly(c.r)
		if got := txnErr(x); got != c.want {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
		pending = append(pending, x)
	}
	if sd := pending[len(pending)-3]; sd.Version != 2 {
		t.Fatalf("setData txn version %d, want 2", sd.Version)
	}
	// Apply in order; Applied drops the overlay as it catches up.
	for i := range pending {
		if res, _ := e.tr.Apply(&pending[i], nil); pending[i].Type != jute.OpError && res.Err != jute.ErrOK {
			t.Fatalf("apply %d: %v", i, res.Err)
		}
		e.prep.Applied(pending[i].Zxid)
		if i < len(pending)-1 && e.prep.Pending() == 0 {
			t.Fatalf("overlay empty with txns %d.. unapplied", i+1)
		}
	}
	if e.prep.Pending() != 0 {
		t.Fatalf("overlay holds %d entries", e.prep.Pending())
	}
	if st := e.stat("/o"); st.Version != 2 || st.NumChildren != 2 {
		t.Fatalf("/o %+v", st)
	}
}

func TestPrepareSetData(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		version int32
		auth    []jute.ID
		want    jute.Err
		newVer  int32
	}{
		{"bad path", "/p/v/", -1, nil, jute.ErrBadArguments, 0},
		{"relative", "p/v", -1, nil, jute.ErrBadArguments, 0},
		{"empty", "", -1, nil, jute.ErrBadArguments, 0},
		{"no node", "/p/missing", -1, nil, jute.ErrNoNode, 0},
		{"no write", "/noc", -1, nil, jute.ErrNoAuth, 0},
		{"no write beats bad version", "/noc", 7, nil, jute.ErrNoAuth, 0},
		{"super", "/noc", -1, []jute.ID{SuperID}, jute.ErrOK, 1},
		{"digest", "/u", 0, []jute.ID{digestU}, jute.ErrOK, 1},
		{"digest other", "/u", 0, []jute.ID{digestV}, jute.ErrNoAuth, 0},
		{"bad version", "/p/v", 1, nil, jute.ErrBadVersion, 0},
		{"right version", "/p/v", 2, nil, jute.ErrOK, 3},
		{"any version", "/p/v", -1, nil, jute.ErrOK, 3},
		{"version -2", "/p/v", -2, nil, jute.ErrBadVersion, 0},
		{"system node", "/zookeeper/config", -1, nil, jute.ErrNoAuth, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := prepEnv(t)
			x, res, _ := e.do(Request{Session: 1, Op: jute.OpSetData, Auth: tc.auth, SetData: &jute.SetDataRequest{Path: tc.path, Data: nil, Version: tc.version}})
			if got := txnErr(x); got != tc.want || res.Err != tc.want {
				t.Fatalf("Prepare %v, Apply %v; want %v", got, res.Err, tc.want)
			}
			if tc.want != jute.ErrOK {
				return
			}
			n, _ := e.tr.Get(tc.path)
			if x.Version != tc.newVer || res.Stat.Version != tc.newVer || x.Data != nil || n.Data() != nil || res.Stat.Mzxid != x.Zxid || res.Stat.Mtime != e.now {
				t.Fatalf("txn %+v result %+v", x, res)
			}
		})
	}
}

func TestPrepareSetACL(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		acl     []jute.ACL
		version int32
		auth    []jute.ID
		want    jute.Err
		newVer  int32
	}{
		{"bad path", "/p/", OpenACLUnsafe, -1, nil, jute.ErrBadArguments, 0},
		{"bad path beats bad acl", "/p/", nil, -1, nil, jute.ErrBadArguments, 0},
		{"bad acl", "/p/v", nil, -1, nil, jute.ErrInvalidACL, 0},
		{"bad acl beats no node", "/p/missing", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "world", ID: "x"}}}, -1, nil, jute.ErrInvalidACL, 0},
		{"auth without identity", "/p/v", []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "auth"}}}, -1, []jute.ID{ipLocal}, jute.ErrInvalidACL, 0},
		{"no node", "/p/missing", OpenACLUnsafe, -1, nil, jute.ErrNoNode, 0},
		{"no admin", "/nadm", OpenACLUnsafe, -1, nil, jute.ErrNoAuth, 0},
		{"no admin beats bad version", "/nadm", OpenACLUnsafe, 5, nil, jute.ErrNoAuth, 0},
		{"bad version", "/p/v", OpenACLUnsafe, 0, nil, jute.ErrBadVersion, 0},
		{"right version", "/p/v", readOnly, 1, nil, jute.ErrOK, 2},
		{"any version", "/p/v", readOnly, -1, nil, jute.ErrOK, 2},
		{"super", "/nadm", readOnly, -1, []jute.ID{SuperID}, jute.ErrOK, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := prepEnv(t)
			x, res, _ := e.do(Request{Session: 1, Op: jute.OpSetACL, Auth: tc.auth, SetACL: &jute.SetACLRequest{Path: tc.path, ACL: tc.acl, Version: tc.version}})
			if got := txnErr(x); got != tc.want || res.Err != tc.want {
				t.Fatalf("Prepare %v, Apply %v; want %v", got, res.Err, tc.want)
			}
			if tc.want != jute.ErrOK {
				return
			}
			n, _ := e.tr.Get(tc.path)
			if x.Version != tc.newVer || res.Stat.Aversion != tc.newVer || !slices.Equal(n.ACL(), tc.acl) {
				t.Fatalf("txn %+v acl %v", x, n.ACL())
			}
		})
	}
	// The overlay carries the new ACL: a later request is checked
	// against it before the setACL is applied.
	e := prepEnv(t)
	if x := e.prepOnly(setACLReq("/p", readOnly, -1)); x.Type != jute.OpSetACL {
		t.Fatalf("setACL: %v", x.Err)
	}
	if x := e.prepOnly(createReq(1, "/p/new", "", 0)); x.Err != jute.ErrNoAuth {
		t.Fatalf("create under pending read-only ACL: %v", x.Err)
	}
}

func TestPrepareCheck(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		version int32
		want    jute.Err
	}{
		{"bad path", "/p/", -1, jute.ErrBadArguments},
		{"no node", "/p/missing", -1, jute.ErrNoNode},
		{"no read", "/none", -1, jute.ErrNoAuth},
		{"no read beats bad version", "/none", 4, jute.ErrNoAuth},
		{"bad version", "/p/v", 3, jute.ErrBadVersion},
		{"right version", "/p/v", 2, jute.ErrOK},
		{"any version", "/p/v", -1, jute.ErrOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := prepEnv(t)
			before := e.tr.Digest()
			x, res, _ := e.do(checkReq(tc.path, tc.version))
			if got := txnErr(x); got != tc.want || res.Err != tc.want {
				t.Fatalf("Prepare %v, Apply %v; want %v", got, res.Err, tc.want)
			}
			if e.tr.Digest() != before {
				t.Fatalf("check changed the tree")
			}
		})
	}
}

func TestPrepareCloseSession(t *testing.T) {
	const s, other = 0x500, 0x600
	e := newEnv(t)
	e.session(s)
	e.session(other)
	e.create("/c", "", 0)
	for _, p := range []string{"/c/applied1", "/c/applied2", "/c/deleting"} {
		if _, res, _ := e.do(createReq(s, p, "", jute.ModeEphemeral)); res.Err != jute.ErrOK {
			t.Fatal(res.Err)
		}
	}
	if _, res, _ := e.do(createReq(other, "/c/other", "", jute.ModeEphemeral)); res.Err != jute.ErrOK {
		t.Fatal(res.Err)
	}
	// Prepared, not applied: one more ephemeral, a delete of one, and a
	// persistent node.
	pending := []Txn{
		e.prepOnly(createReq(s, "/c/pending", "", jute.ModeEphemeral)),
		e.prepOnly(createReq(s, "/c/seq-", "", jute.ModeEphemeralSequential)),
		e.prepOnly(deleteReq("/c/deleting", -1)),
		e.prepOnly(createReq(s, "/c/persistent", "", jute.ModePersistent)),
		e.prepOnly(setDataReq("/c/applied2", "x", -1)),
	}
	closeTxn := e.prepOnly(Request{Session: s, Op: jute.OpCloseSession})
	want := []string{"/c/applied1", "/c/applied2", "/c/pending", "/c/seq-0000000005"}
	if closeTxn.Type != jute.OpCloseSession || !slices.Equal(closeTxn.Paths, want) {
		t.Fatalf("closeSession txn %v paths %v, want %v", closeTxn.Type, closeTxn.Paths, want)
	}
	// The overlay sees them gone.
	if x := e.prepOnly(deleteReq("/c/pending", -1)); x.Err != jute.ErrNoNode {
		t.Fatalf("delete of a closing session's ephemeral: %v", x.Err)
	}
	// A second closeSession finds nothing left.
	if x := e.prepOnly(Request{Session: s, Op: jute.OpCloseSession}); len(x.Paths) != 0 {
		t.Fatalf("second closeSession paths %v", x.Paths)
	}
	for _, x := range append(pending, closeTxn) {
		e.tr.Apply(&x, nil)
	}
	e.prep.Applied(closeTxn.Zxid + 2)
	if got := e.tr.Ephemerals(s); len(got) != 0 || e.tr.HasSession(s) {
		t.Fatalf("session %#x left %v", s, got)
	}
	if n, _ := e.tr.Get("/c"); !slices.Equal(n.Children(nil), []string{"other", "persistent"}) {
		t.Fatalf("children of /c: %v", n.Children(nil))
	}
	checkInvariants(t, e.tr)
}

func TestPrepareMulti(t *testing.T) {
	e := newEnv(t)
	e.create("/m", "", 0)
	e.create("/m/x", "", 0)

	// Success: every op prepared against the earlier ones, one zxid.
	zxid := e.prep.LastZxid()
	x, res, _ := e.do(multiReq(
		mCreate("/m/a", "1", 0),
		mCreate("/m/a/s-", "", jute.ModePersistentSequential),
		mCreate("/m/a/s-", "", jute.ModePersistentSequential),
		mSetData("/m/a", "2", 0),
		mCheck("/m/a", 1),
		mDelete("/m/x", -1),
	))
	if x.Zxid != zxid+1 || e.prep.LastZxid() != zxid+1 || res.Err != jute.ErrOK {
		t.Fatalf("multi zxid %d (last %d), err %v", x.Zxid, zxid, res.Err)
	}
	wantPaths := []string{"/m/a", "/m/a/s-0000000000", "/m/a/s-0000000001", "/m/a", "/m/a", "/m/x"}
	for i, sub := range x.Ops {
		if sub.Zxid != x.Zxid || sub.Time != x.Time || sub.Session != x.Session || sub.Path != wantPaths[i] {
			t.Fatalf("sub %d: %+v", i, sub)
		}
		if res.Multi[i].Err != jute.ErrOK || res.Multi[i].Path != wantPaths[i] {
			t.Fatalf("result %d: %+v", i, res.Multi[i])
		}
	}
	if st := e.stat("/m/a"); st.Version != 1 || st.NumChildren != 2 {
		t.Fatalf("/m/a %+v", st)
	}

	// Failure: OK for the ops before, the failing op's code, then
	// RuntimeInconsistency; nothing applied.
	before := e.tr.Digest()
	x, res, _ = e.do(multiReq(
		mCreate("/m/b", "", 0),
		mCreate("/m/b/s-", "", jute.ModePersistentSequential),
		mDelete("/m/x", -1), // gone
		mSetData("/m/a", "3", -1),
		mCreate("/m/c", "", 0),
	))
	wantErrs := []jute.Err{jute.ErrOK, jute.ErrOK, jute.ErrNoNode, jute.ErrRuntimeInconsistency, jute.ErrRuntimeInconsistency}
	if x.Type != jute.OpMulti || res.Err != jute.ErrNoNode || len(res.Multi) != len(wantErrs) {
		t.Fatalf("failed multi: %+v", res)
	}
	for i, sub := range x.Ops {
		if sub.Type != jute.OpError || sub.Err != wantErrs[i] || res.Multi[i].Err != wantErrs[i] || res.Multi[i].Op != jute.OpError {
			t.Fatalf("sub %d: txn %+v result %+v, want error %v", i, sub, res.Multi[i], wantErrs[i])
		}
	}
	if e.tr.Digest() != before {
		t.Fatalf("failed multi changed the tree")
	}
	// The overlay was rolled back: a later request does not see /m/b.
	if x := e.prepOnly(createReq(1, "/m/b", "", 0)); x.Type == jute.OpError {
		t.Fatalf("create after failed multi: %v", x.Err)
	}
}

// TestPrepareMultiRollbackOverlay: a failed multi on top of unapplied
// requests restores exactly the overlay they left (ZOOKEEPER-1624: the
// sequential counter included).
func TestPrepareMultiRollbackOverlay(t *testing.T) {
	e := newEnv(t)
	e.create("/m", "", 0)
	e.create("/m/keep", "", 0)
	p1 := e.prepOnly(createReq(1, "/m/pending", "", 0))
	p2 := e.prepOnly(createReq(1, "/m/s-", "", jute.ModePersistentSequential))
	if p2.Path != "/m/s-0000000002" {
		t.Fatalf("p2 path %s", p2.Path)
	}
	pendingBefore := e.prep.Pending()
	failed := e.prepOnly(multiReq(
		mDelete("/m/pending", -1),
		mCreate("/m/s-", "", jute.ModePersistentSequential),
		mSetData("/m/keep", "x", -1),
		mCreate("/m/new", "", 0),
		mCheck("/m/keep", 5), // fails: version is 1 by now in the overlay
	))
	if failed.Ops[4].Err != jute.ErrBadVersion {
		t.Fatalf("multi: %+v", failed.Ops)
	}
	if e.prep.Pending() != pendingBefore {
		t.Fatalf("overlay has %d entries, had %d", e.prep.Pending(), pendingBefore)
	}
	checks := []struct {
		r    Request
		want jute.Err
		path string
	}{
		{createReq(1, "/m/pending", "", 0), jute.ErrNodeExists, ""}, // still pending, not deleted
		{createReq(1, "/m/s-", "", jute.ModePersistentSequential), jute.ErrOK, "/m/s-0000000003"},
		{setDataReq("/m/keep", "y", 0), jute.ErrOK, "/m/keep"}, // version 0: the multi's setData gone
		{createReq(1, "/m/new", "", 0), jute.ErrOK, "/m/new"},  // the multi's create gone
		{deleteReq("/m/pending", -1), jute.ErrOK, "/m/pending"},
	}
	txns := []Txn{p1, p2, failed}
	for i, c := range checks {
		x := e.prepOnly(c.r)
		if got := txnErr(x); got != c.want || (c.path != "" && x.Path != c.path) {
			t.Fatalf("check %d: %v %q, want %v %q", i, got, x.Path, c.want, c.path)
		}
		txns = append(txns, x)
	}
	for i := range txns {
		e.tr.Apply(&txns[i], nil)
	}
	e.prep.Applied(txns[len(txns)-1].Zxid)
	if e.prep.Pending() != 0 {
		t.Fatalf("overlay not drained")
	}
	checkInvariants(t, e.tr)
}

func TestPrepareMultiShapes(t *testing.T) {
	e := newEnv(t)
	e.create("/m", "", 0)
	// Empty multi: OK, no results.
	x, res, _ := e.do(multiReq())
	if x.Type != jute.OpMulti || len(x.Ops) != 0 || res.Err != jute.ErrOK || len(res.Multi) != 0 {
		t.Fatalf("empty multi: %+v %+v", x, res)
	}
	// An op a write multi cannot hold fails at its place.
	x, res, _ = e.do(multiReq(mCreate("/m/a", "", 0), jute.MultiOp{Op: jute.OpGetData, Read: jute.PathWatchRequest{Path: "/m"}}, mDelete("/m/a", -1)))
	if res.Err != jute.ErrBadArguments || x.Ops[0].Err != jute.ErrOK || x.Ops[1].Err != jute.ErrBadArguments || x.Ops[2].Err != jute.ErrRuntimeInconsistency {
		t.Fatalf("read op in multi: %+v", x.Ops)
	}
	// The first op failing.
	x, _, _ = e.do(multiReq(mCheck("/nope", -1), mCreate("/m/b", "", 0)))
	if x.Ops[0].Err != jute.ErrNoNode || x.Ops[1].Err != jute.ErrRuntimeInconsistency {
		t.Fatalf("first op failing: %+v", x.Ops)
	}
	// The last op failing.
	x, _, _ = e.do(multiReq(mCreate("/m/b", "", 0), mCreate("/m/b", "", 0)))
	if x.Ops[0].Err != jute.ErrOK || x.Ops[1].Err != jute.ErrNodeExists {
		t.Fatalf("last op failing: %+v", x.Ops)
	}
	if _, ok := e.tr.Get("/m/b"); ok {
		t.Fatalf("failed multi created /m/b")
	}
	// TTL and container creates inside a multi.
	_, res, _ = e.do(multiReq(
		jute.MultiOp{Op: jute.OpCreateTTL, Create: jute.CreateRequest{Path: "/m/t", ACL: OpenACLUnsafe, Flags: jute.ModePersistentWithTTL, TTL: 10, HasTTL: true}},
		jute.MultiOp{Op: jute.OpCreateContainer, Create: jute.CreateRequest{Path: "/m/c", ACL: OpenACLUnsafe, Flags: jute.ModeContainer}},
	))
	if res.Err != jute.ErrOK || !slices.Equal(e.tr.TTLNodes(), []string{"/m/t"}) || !slices.Equal(e.tr.Containers(), []string{"/m/c"}) {
		t.Fatalf("ttl/container in multi: %+v", res)
	}
}

func TestPrepareMisc(t *testing.T) {
	e := newEnv(t)
	// Requests missing their body, and unknown ops, are BadArguments.
	for _, r := range []Request{
		{Op: jute.OpCreate}, {Op: jute.OpDelete}, {Op: jute.OpSetData}, {Op: jute.OpSetACL},
		{Op: jute.OpCheck}, {Op: jute.OpMulti}, {Op: jute.OpGetData}, {Op: jute.Op(999)},
	} {
		if x := e.prepOnly(r); x.Type != jute.OpError || x.Err != jute.ErrBadArguments {
			t.Errorf("%v without body: %+v", r.Op, x)
		}
	}
	// createSession carries the timeout.
	if x := e.prepOnly(Request{Session: 5, Op: jute.OpCreateSession, Timeout: 1234}); x.Type != jute.OpCreateSession || x.Timeout != 1234 || x.Session != 5 {
		t.Fatalf("createSession txn %+v", x)
	}
	// Zxids: every txn takes the next one, error txns included;
	// SetZxid starts an epoch.
	e.prep.SetZxid(5 << 32)
	if x := e.prepOnly(deleteReq("/nope", -1)); x.Zxid != 5<<32+1 || e.prep.LastZxid() != 5<<32+1 {
		t.Fatalf("zxid %#x", x.Zxid)
	}
	p := NewPreparer(New(), 41)
	if x := p.Prepare(&Request{Op: jute.OpCreateSession}, 0); x.Zxid != 42 {
		t.Fatalf("NewPreparer(41) gave zxid %d", x.Zxid)
	}
}

func TestCheckACL(t *testing.T) {
	acl := func(perms int32, scheme, id string) jute.ACL {
		return jute.ACL{Perms: perms, ID: jute.ID{Scheme: scheme, ID: id}}
	}
	ip := func(a string) jute.ID { return jute.ID{Scheme: "ip", ID: a} }
	tests := []struct {
		name string
		acl  []jute.ACL
		perm int32
		ids  []jute.ID
		want bool
	}{
		{"empty acl allows all", nil, jute.PermAdmin, nil, true},
		{"empty acl, no ids", []jute.ACL{}, jute.PermWrite, nil, true},
		{"world", OpenACLUnsafe, jute.PermDelete, nil, true},
		{"world read only", ReadACLUnsafe, jute.PermWrite, nil, false},
		{"world read", ReadACLUnsafe, jute.PermRead, nil, true},
		{"no perms", noneACL, jute.PermRead, nil, false},
		{"super", noneACL, jute.PermAdmin, []jute.ID{SuperID}, true},
		{"super in list", []jute.ACL{acl(31, "digest", "a:b")}, jute.PermAdmin, []jute.ID{ipLocal, SuperID}, true},
		{"world other id", []jute.ACL{acl(31, "world", "someone")}, jute.PermRead, []jute.ID{{Scheme: "world", ID: "someone"}}, false},
		{"auth entry", []jute.ACL{acl(31, "auth", "")}, jute.PermRead, []jute.ID{{Scheme: "auth", ID: ""}}, false},
		{"super entry", []jute.ACL{acl(31, "super", "x")}, jute.PermRead, []jute.ID{{Scheme: "super2", ID: "x"}}, false},
		{"digest exact", []jute.ACL{acl(31, "digest", digestU.ID)}, jute.PermRead, []jute.ID{digestU}, true},
		{"digest other", []jute.ACL{acl(31, "digest", digestU.ID)}, jute.PermRead, []jute.ID{digestV}, false},
		{"digest case", []jute.ACL{acl(31, "digest", "U:X")}, jute.PermRead, []jute.ID{{Scheme: "digest", ID: "u:x"}}, false},
		{"digest perm missing", []jute.ACL{acl(jute.PermRead, "digest", digestU.ID)}, jute.PermWrite, []jute.ID{digestU}, false},
		{"second entry grants", []jute.ACL{acl(jute.PermRead, "digest", digestU.ID), acl(jute.PermWrite, "digest", digestU.ID)}, jute.PermWrite, []jute.ID{digestU}, true},
		{"scheme must match", []jute.ACL{acl(31, "ip", "127.0.0.1")}, jute.PermRead, []jute.ID{{Scheme: "digest", ID: "127.0.0.1"}}, false},
		{"ip exact", []jute.ACL{acl(31, "ip", "10.1.2.3")}, jute.PermRead, []jute.ID{ip("10.1.2.3")}, true},
		{"ip other", []jute.ACL{acl(31, "ip", "10.1.2.3")}, jute.PermRead, []jute.ID{ip("10.1.2.4")}, false},
		{"ip /24", []jute.ACL{acl(31, "ip", "10.1.2.0/24")}, jute.PermRead, []jute.ID{ip("10.1.2.200")}, true},
		{"ip /24 outside", []jute.ACL{acl(31, "ip", "10.1.2.0/24")}, jute.PermRead, []jute.ID{ip("10.1.3.1")}, false},
		{"ip /8 unmasked acl", []jute.ACL{acl(31, "ip", "10.9.9.9/8")}, jute.PermRead, []jute.ID{ip("10.1.1.1")}, true},
		{"ip /0", []jute.ACL{acl(31, "ip", "1.2.3.4/0")}, jute.PermRead, []jute.ID{ip("200.1.1.1")}, true},
		{"ip /32", []jute.ACL{acl(31, "ip", "1.2.3.4/32")}, jute.PermRead, []jute.ID{ip("1.2.3.4")}, true},
		{"ip /31", []jute.ACL{acl(31, "ip", "1.2.3.4/31")}, jute.PermRead, []jute.ID{ip("1.2.3.5")}, true},
		{"ip /31 outside", []jute.ACL{acl(31, "ip", "1.2.3.4/31")}, jute.PermRead, []jute.ID{ip("1.2.3.6")}, false},
		{"ip leading zero", []jute.ACL{acl(31, "ip", "010.1.2.3")}, jute.PermRead, []jute.ID{ip("10.1.2.3")}, true},
		{"ip v6 client", []jute.ACL{acl(31, "ip", "0.0.0.0/0")}, jute.PermRead, []jute.ID{ip("0:0:0:0:0:0:0:1")}, false},
		{"ip bad acl", []jute.ACL{acl(31, "ip", "10.1.2.0/40")}, jute.PermRead, []jute.ID{ip("10.1.2.3")}, false},
		{"no ids", []jute.ACL{acl(31, "digest", "a:b")}, jute.PermRead, nil, false},
	}
	for _, tc := range tests {
		if got := CheckACL(tc.acl, tc.perm, tc.ids); got != tc.want {
			t.Errorf("%s: CheckACL = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestIPACLSyntax pins IPAuthenticationProvider.isValid's answers, checked
// against Apache ZooKeeper 3.8.0 (setACL with each id).
func TestIPACLSyntax(t *testing.T) {
	valid := []string{"1.2.3.4", "10.0.0.0/0", "01.2.3.4", "1.2.3.4/08", "0.0.0.0", "255.255.255.255/32",
		"+1.2.3.4", "1.2.3.4/+8", "-0.0.0.0", "1.2.3.\u0661", "1.2.3.4/-0"}
	invalid := []string{"", "1.2.3", "1.2.3.4.5", "::1", "fe80::1/64", "1.2.3.4/", "/8", "1.2.3.4/33",
		"256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "1..3.4", "1.2.3.4/-1", "a.b.c.d", "1.2.3.4/8/8",
		"1.2.3.-1", "1.2.3.4/99999999999", "1.2.3.+", "1.2.3.\U0001D7CE"}
	for _, id := range valid {
		if !validIPACL(id) {
			t.Errorf("ip %q refused, ZooKeeper accepts it", id)
		}
	}
	for _, id := range invalid {
		if validIPACL(id) {
			t.Errorf("ip %q accepted, ZooKeeper refuses it", id)
		}
	}
}

func TestFixupACL(t *testing.T) {
	world := jute.ACL{Perms: jute.PermAll, ID: AnyoneID}
	auth := func(perms int32) jute.ACL { return jute.ACL{Perms: perms, ID: jute.ID{Scheme: "auth", ID: ""}} }
	tests := []struct {
		name string
		acl  []jute.ACL
		ids  []jute.ID
		want []jute.ACL // nil: InvalidACL
	}{
		{"world", []jute.ACL{world}, nil, []jute.ACL{world}},
		{"duplicates removed", []jute.ACL{world, world, ReadACLUnsafe[0], world}, nil, []jute.ACL{world, ReadACLUnsafe[0]}},
		{"auth expands to digest ids", []jute.ACL{auth(jute.PermRead)}, []jute.ID{ipLocal, digestU, SuperID, digestV},
			[]jute.ACL{{Perms: jute.PermRead, ID: digestU}, {Perms: jute.PermRead, ID: digestV}}},
		{"auth id ignored", []jute.ACL{{Perms: 3, ID: jute.ID{Scheme: "auth", ID: "whatever"}}}, []jute.ID{digestU},
			[]jute.ACL{{Perms: 3, ID: digestU}}},
		{"duplicate auth removed before expansion", []jute.ACL{auth(31), auth(31)}, []jute.ID{digestU},
			[]jute.ACL{{Perms: 31, ID: digestU}}},
		{"expansion may repeat an entry (as ZooKeeper)", []jute.ACL{{Perms: 31, ID: digestU}, auth(31)}, []jute.ID{digestU},
			[]jute.ACL{{Perms: 31, ID: digestU}, {Perms: 31, ID: digestU}}},
		{"auth without identity", []jute.ACL{auth(31)}, nil, nil},
		{"auth with ip only", []jute.ACL{auth(31)}, []jute.ID{ipLocal}, nil},
		{"auth with super only", []jute.ACL{auth(31)}, []jute.ID{SuperID}, nil},
		{"digest", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a:b"}}}, nil, []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a:b"}}}},
		{"digest empty user", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: ":b"}}}, nil, []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: ":b"}}}},
		{"digest trailing colon", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a:b:"}}}, nil, []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a:b:"}}}},
		{"digest a::", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a::"}}}, nil, nil},
		{"digest no colon", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "ab"}}}, nil, nil},
		{"digest two colons", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "digest", ID: "a:b:c"}}}, nil, nil},
		{"ip", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "ip", ID: "10.0.0.0/8"}}}, nil, []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "ip", ID: "10.0.0.0/8"}}}},
		{"ip v6", []jute.ACL{{Perms: 1, ID: jute.ID{Scheme: "ip", ID: "::1"}}}, nil, nil},
		{"any perms accepted", []jute.ACL{{Perms: 99, ID: AnyoneID}, {Perms: 0, ID: AnyoneID}}, nil, []jute.ACL{{Perms: 99, ID: AnyoneID}, {Perms: 0, ID: AnyoneID}}},
		{"empty", []jute.ACL{}, nil, nil},
		{"nil", nil, nil, nil},
		{"one bad poisons all", []jute.ACL{world, {Perms: 1, ID: jute.ID{Scheme: "x509", ID: "cn"}}}, nil, nil},
	}
	for _, tc := range tests {
		got, ok := FixupACL(tc.acl, tc.ids)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: FixupACL = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
	// A long list is deduplicated too (through a set).
	long := make([]jute.ACL, 0, 1000)
	for i := 0; i < 1000; i++ {
		long = append(long, jute.ACL{Perms: int32(i % 10), ID: AnyoneID})
	}
	if got, ok := FixupACL(long, nil); !ok || len(got) != 10 || got[3].Perms != 3 {
		t.Errorf("long list: %v %v", len(got), ok)
	}
}

func TestDigestOf(t *testing.T) {
	tests := map[string]string{
		// The well-known value from ZooKeeper's documentation.
		"super:test": "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
		// The user is everything before the first colon; all is hashed.
		"a:b:c": "a:" + DigestOf("a:b:c")[2:],
	}
	for in, want := range tests {
		if got := DigestOf(in); got != want {
			t.Errorf("DigestOf(%q) = %q, want %q", in, got, want)
		}
	}
	if got := DigestOf("nocolon"); got[:8] != "nocolon:" {
		t.Errorf("DigestOf without colon: %q", got)
	}
}

func BenchmarkPrepareCreate(b *testing.B) {
	tr := New()
	p := NewPreparer(tr, 0)
	x := p.Prepare(&Request{Session: 1, Op: jute.OpCreate, Create: &jute.CreateRequest{Path: "/bench", ACL: OpenACLUnsafe}}, 1)
	tr.Apply(&x, nil)
	p.Applied(x.Zxid)
	r := Request{Session: 1, Op: jute.OpCreate, Create: &jute.CreateRequest{Path: "/bench/n-", Data: make([]byte, 100), ACL: OpenACLUnsafe, Flags: jute.ModePersistentSequential}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		x := p.Prepare(&r, int64(i))
		if x.Type == jute.OpError {
			b.Fatal(x.Err)
		}
		// Keep the overlay bounded, as the pipeline does after applying;
		// the txns are dropped, so the suffixes repeat.
		if i%1024 == 1023 {
			p.Applied(x.Zxid)
		}
	}
}
