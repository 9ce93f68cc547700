package difftest

import (
	"testing"

	"zkd/netio/jute"
)

var (
	digestU1 = jute.ACL{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: digestOf("u1:p1")}}
	authAll  = jute.ACL{Perms: jute.PermAll, ID: jute.ID{Scheme: "auth", ID: ""}}
	noRead   = jute.ACL{Perms: jute.PermAll &^ jute.PermRead, ID: jute.ID{Scheme: "world", ID: "anyone"}}
)

// scenario is a hand-written sequence: a regression test for a behaviour
// the generator reaches only by chance, and the minimal repro of a bug.
// Scenarios with bug "" once reproduced bugs that are now fixed, or cover
// deliberate divergences; they must show no other difference.
type scenario struct {
	name string
	bug  string // a KnownBugs id the scenario reproduces, or ""
	seq  *Sequence
}

var scenarios = []scenario{
	{"multi createTTL with a non-TTL mode is a plain create", "", NewSequence(
		Multi(0, jute.OpMulti, MCreate(jute.OpCreateTTL, "~/e", jute.ModeEphemeral, 0)),
		Read(0, jute.OpExists, "~/e", false),
		Call(0, jute.OpGetEphemerals, &jute.PathRequest{Path: "~"}),
	)},
	{"multi create2 answers a create result", "", NewSequence(
		Multi(0, jute.OpMulti, MCreate(jute.OpCreate2, "~/a", jute.ModeEphemeral, 0)),
		Read(0, jute.OpExists, "~/a", false),
		Call(0, jute.OpGetEphemerals, &jute.PathRequest{Path: "~"}),
	)},
	{"multi createContainer with mode 1 is an ephemeral", "", NewSequence(
		Multi(0, jute.OpMulti, MCreate(jute.OpCreateContainer, "~/c", jute.ModeEphemeral, 0)),
		Read(0, jute.OpExists, "~/c", false),
	)},
	{"create checks the ACL before the parent", "", NewSequence(
		Create(0, jute.OpCreate, "~/nosuch/x", "", 0, 0, authAll),
		Create(0, jute.OpCreate, "~/x", "", 0, 0, noRead),
		Create(0, jute.OpCreate, "~/x/y", "", 0, 0, authAll),
		Create(0, jute.OpCreate, "~/x/\x01", "", 0, 0),
	)},
	{"null data stays null", "", NewSequence(
		Create(0, jute.OpCreate, "~/n", "<null>", 0, 0),
		Create(0, jute.OpCreate, "~/e", "", 0, 0),
		Read(0, jute.OpGetData, "~/n", false),
		Read(0, jute.OpGetData, "~/e", false),
		Multi(0, jute.OpMultiRead, jute.MultiOp{Op: jute.OpGetData, Read: jute.PathWatchRequest{Path: "~/n"}},
			jute.MultiOp{Op: jute.OpGetData, Read: jute.PathWatchRequest{Path: "~/e"}}),
	)},
	{"multiRead of a leaf's children", "", NewSequence(
		Create(0, jute.OpCreate, "~/leaf", "x", 0, 0),
		Multi(0, jute.OpMultiRead, jute.MultiOp{Op: jute.OpGetChildren, Read: jute.PathWatchRequest{Path: "~/leaf"}}),
	)},
	{"addWatch replies with an ErrorResponse body", "", NewSequence(
		Call(0, jute.OpAddWatch, &jute.PathTypeRequest{Path: "~", Type: jute.AddWatchPersistent}),
	)},
	{"digest auth without a colon", "", NewSequence(
		Auth(0, "digest", "nocolon"),
		WhoAmI(0),
	)},
	{"setWatches with a null vector", "setwatches-null-vector", NewSequence(
		SetWatches(0, &jute.SetWatches{DataWatches: []string{"~/gone"}, ExistWatches: nil, ChildWatches: []string{}}, Rel{LastSeen: true}),
	)},
	{"exists with a NUL in the path", "", NewSequence(
		Read(0, jute.OpExists, "~/a\x00b", false),
	)},
	{"the empty path is the root for reads", "", NewSequence(
		Read(0, jute.OpExists, "", false),
		Read(0, jute.OpGetChildren, "", false),
	)},
	{"the empty path in watch and count requests", "empty-path-is-root", NewSequence(
		SetWatches(0, &jute.SetWatches{DataWatches: []string{}, ExistWatches: []string{""}, ChildWatches: []string{}}, Rel{LastSeen: true}),
		Read(0, jute.OpGetChildren, "/", true),
		Call(0, jute.OpCheckWatches, &jute.PathTypeRequest{Path: "", Type: jute.WatcherAny}),
		Call(0, jute.OpGetAllChildrenNumber, &jute.PathRequest{Path: ""}),
	)},
	{"watch events need READ on the node", "watch-event-acl", NewSequence(
		Read(1, jute.OpExists, "~/x", true),
		Create(0, jute.OpCreate, "~/x", "", 0, 0, noRead),
		Ping(1),
	)},
	{"paths that are not UTF-8", "invalid-utf8-path", NewSequence(
		Call(0, jute.OpSync, &jute.PathRequest{Path: "~/\xff"}),
	)},
	// Deliberate divergences (DIVERGENCES.md).
	{"removeWatches with a 3.9 watcher type", "", NewSequence(
		Call(0, jute.OpAddWatch, &jute.PathTypeRequest{Path: "~", Type: jute.AddWatchPersistent}),
		Call(0, jute.OpRemoveWatches, &jute.PathTypeRequest{Path: "~", Type: jute.WatcherPersistent}),
	)},
	{"checkWatches sees only the caller's watches", "", NewSequence(
		Read(1, jute.OpExists, "~", true),
		Call(0, jute.OpCheckWatches, &jute.PathTypeRequest{Path: "~", Type: jute.WatcherData}),
	)},
	{"checkWatches of a path without a slash", "", NewSequence(
		Call(0, jute.OpCheckWatches, &jute.PathTypeRequest{Path: "a", Type: jute.WatcherData}),
	)},
	{"a TTL mode in a multi create", "", NewSequence(
		Multi(0, jute.OpMulti, MCreate(jute.OpCreate, "~/t", jute.ModePersistentWithTTL, 0)),
	)},
	{"a request pipelined behind setACL", "", NewSequence(
		Create(0, jute.OpCreate, "~/p", "", 0, 0),
		Step{S: 0, Kind: KindBatch, Batch: []Step{
			Call(0, jute.OpSetACL, &jute.SetACLRequest{Path: "~/p", ACL: []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: digestOf("u2:p2")}}}, Version: -1}),
			Create(0, jute.OpCreate, "~/p/c", "", 0, 0),
		}},
	)},
	{"sequential creates at the top level", "", NewSequence(
		Create(0, jute.OpCreate, "/", "", jute.ModePersistentSequential, 0),
		Create(0, jute.OpCreate2, "/zookeeper", "", jute.ModeEphemeralSequential, 0),
		Create(0, jute.OpCreate, "/..", "", jute.ModePersistentSequential, 0),
		Create(0, jute.OpCreate, "//", "", jute.ModePersistentSequential, 0),
		Read(0, jute.OpGetChildren2, "@2", false),
	)},
	{"auth belongs to the connection", "", NewSequence(
		Auth(0, "digest", "u1:p1"),
		Create(0, jute.OpCreate, "~/p", "", 0, 0, digestU1),
		Reconnect(0),
		WhoAmI(0),
		Read(0, jute.OpGetData, "~/p", false),
	)},
}

func TestScenarios(t *testing.T) {
	p := newPair(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			zt, rt := p.Run(sc.seq)
			if rt.Setup != nil || zt.Setup != nil {
				t.Fatalf("setup: %v %v", rt.Setup, zt.Setup)
			}
			if *flagShow {
				t.Logf("zookeeper:\n%s", transcriptText(rt))
				t.Logf("zkd:\n%s", transcriptText(zt))
			}
			diffs, stopped := Compare(sc.seq, zt, rt)
			m := Blocking(diffs, stopped)
			switch {
			case m != nil && m.Divergence != "":
				t.Logf("%s", m.Report())
			case m != nil && m.Known == "":
				t.Errorf("unlisted difference:\n%s", m.Report())
			case m != nil && sc.bug == "":
				t.Errorf("difference (known bug %s):\n%s", m.Known, m.Report())
			case m == nil && sc.bug != "" && len(diffs) == 0:
				t.Logf("bug %s no longer reproduces: remove it from KnownBugs", sc.bug)
			default:
				for _, d := range diffs {
					t.Logf("%s", d.Report())
				}
			}
		})
	}
}
