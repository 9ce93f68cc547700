package difftest

import (
	"reflect"
	"testing"

	"zkd/netio/jute"
)

// These tests need no server.

func TestGenerateDeterministic(t *testing.T) {
	for i := 0; i < 50; i++ {
		a, b := Generate(42, i), Generate(42, i)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("sequence %d differs between two generations from one seed", i)
		}
	}
	if reflect.DeepEqual(Generate(42, 0), Generate(43, 0)) {
		t.Fatal("different run seeds gave the same sequence")
	}
}

// TestGenerateSafeAndCovering: no generated step may crash or hang the
// reference, and a default run's worth of sequences sends every op.
func TestGenerateSafeAndCovering(t *testing.T) {
	seen := map[jute.Op]int{}
	for i := 0; i < sequencesDefault; i++ {
		seq := Generate(7, i)
		if len(seq.Steps) < stepsMin {
			t.Fatalf("sequence %d has %d steps", i, len(seq.Steps))
		}
		for j := range seq.Steps {
			st := &seq.Steps[j]
			if err := checkSafe(st); err != nil {
				t.Fatalf("sequence %d step %d (%s): %v", i, j, Describe(st), err)
			}
			if st.ID != j {
				t.Fatalf("sequence %d step %d has id %d", i, j, st.ID)
			}
			if st.S < 0 || st.S >= slotsMax {
				t.Fatalf("sequence %d step %d on slot %d", i, j, st.S)
			}
			for _, sub := range append([]Step{*st}, st.Batch...) {
				if err := checkSafe(&sub); err != nil {
					t.Fatalf("sequence %d step %d (%s): %v", i, j, Describe(&sub), err)
				}
				seen[sub.Op]++
				if m, ok := sub.Req.(*jute.MultiRequest); ok {
					for _, op := range m.Ops {
						seen[op.Op]++
					}
				}
			}
		}
	}
	for _, op := range requiredOps {
		if seen[op] == 0 {
			t.Errorf("no generated step sends %s", op)
		}
	}
}

func TestCheckSafeRefuses(t *testing.T) {
	for _, st := range []Step{
		Create(0, jute.OpCreateTTL, "/a", "", jute.ModePersistent, -1),
		Create(0, jute.OpCreateTTL, "/a", "", jute.ModeEphemeral, -5),
		Multi(0, jute.OpMulti, MCreate(jute.OpCreateTTL, "/a", jute.ModeContainer, -1)),
		Call(0, jute.OpCheck, &jute.PathVersionRequest{Path: "/a", Version: 0}),
		Call(0, jute.OpRemoveWatches, &jute.PathTypeRequest{Path: "/a", Type: 9}),
		Call(0, jute.OpAddWatch, &jute.PathTypeRequest{Path: "/a", Type: 7}),
	} {
		if checkSafe(&st) == nil {
			t.Errorf("checkSafe let %s through", Describe(&st))
		}
	}
	for _, st := range []Step{
		Create(0, jute.OpCreateTTL, "/a", "", jute.ModePersistentWithTTL, -1), // BadArguments, harmless
		Create(0, jute.OpCreateTTL, "/a", "", jute.ModePersistent, 0),
		Multi(0, jute.OpMulti, jute.MultiOp{Op: jute.OpCheck, Delete: jute.PathVersionRequest{Path: "/a"}}),
		Call(0, jute.OpRemoveWatches, &jute.PathTypeRequest{Path: "/a", Type: 5}),
	} {
		if err := checkSafe(&st); err != nil {
			t.Errorf("checkSafe refused %s: %v", Describe(&st), err)
		}
	}
}

func TestResolveAndNormalise(t *testing.T) {
	r := &run{ns: "/dt7", base: 100, names: map[int64]string{0x55: "S1.1"},
		results: map[int][]string{3: {"/dt7/q0000000004"}, 5: {"", "/dt7/x"}}}
	for in, want := range map[string]string{
		"~":        "/dt7",
		"~/a/b":    "/dt7/a/b",
		"~//a":     "/dt7//a",
		"@3":       "/dt7/q0000000004",
		"@3/c":     "/dt7/q0000000004/c",
		"@5.1/c":   "/dt7/x/c",
		"@5.0":     "/dt7/@missing",
		"@9":       "/dt7/@missing",
		"/a":       "/a",
		"relative": "relative",
	} {
		if got := r.resolve(in); got != want {
			t.Errorf("resolve(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/dt7": "~", "/dt7/a": "~/a", "/dt70": "/dt70", "/dt7/\xff": `"~/\xff"`, "/dt7/a\x01": `"~/a\x01"`,
	} {
		if got := r.path(in); got != want {
			t.Errorf("path(%q) = %q, want %q", in, got, want)
		}
	}
	for z, want := range map[int64]string{0: "0", -1: "-1", 100: "b+0", 107: "b+7", 50: "old"} {
		if got := r.zxid(z); got != want {
			t.Errorf("zxid(%d) = %q, want %q", z, got, want)
		}
	}
	for o, want := range map[int64]string{0: "0", 0x55: "S1.1", jute.ContainerEphemeralOwner: "container",
		jute.TTLOwner(1000): "ttl:1000", 0x77: "other:0x77"} {
		if got := r.owner(o); got != want {
			t.Errorf("owner(%#x) = %q, want %q", o, got, want)
		}
	}
}

func TestKnownBugMatchers(t *testing.T) {
	mk := func(label string, z, r Answer) *Mismatch {
		return &Mismatch{Label: label, Zkd: z, Ref: r, RefT: &Transcript{}, ZkdT: &Transcript{}}
	}
	cases := []struct {
		m    *Mismatch
		want string // "fix:<id>", "known:<id>", "div:<id>" or ""
	}{
		{mk(`s0 addWatch "~/a" type=0`, Answer{Code: "OK", Zxid: "b+1"}, Answer{Code: "OK", Zxid: "b+1", Body: "body=4B"}), ""},
		{mk(`s0 create "~/a" data="" acl=[] mode=0`, Answer{Code: "OK", Events: []string{"e1", "e2"}}, Answer{Code: "OK", Events: []string{"e2"}}), ""},
		{mk(`s0 sync "~/\xff"`, Answer{Code: "OK", Body: `path="~/\xff"`}, Answer{Code: "OK", Body: "path=~/\ufffd"}), ""},
		{mk(`s0 removeWatches "~/a" type=4`, Answer{Code: "BadArguments", Zxid: "b+1"}, Answer{Code: "MarshallingError", Zxid: "b+1"}), "div:watcher-type-unknown"},
		{mk(`s0 removeWatches "~/a" type=2`, Answer{Code: "BadArguments", Zxid: "b+1"}, Answer{Code: "MarshallingError", Zxid: "b+1"}), ""},
		{mk(`s0 checkWatches "a" type=2`, Answer{Code: "NoWatcher"}, Answer{Code: "MarshallingError"}), "div:checkwatches-no-slash"},
		{mk(`s0 checkWatches "" type=1`, Answer{Code: "OK"}, Answer{Code: "NoWatcher"}), ""},
		{mk(`s0 create "~/a" data="" acl=[31:world:anyone] mode=0`, Answer{Code: "OK"}, Answer{Code: "NoNode"}), ""},
		{mk(`s0 setWatches rel=lastSeen data=[] exist=["" "~/b"] child=[]`, Answer{Code: "OK", Events: []string{"e1"}}, Answer{Code: "OK", Events: []string{"e1", "e2"}}), ""},
		{mk(`s0 create "~/a" data="" acl=[] mode=0`, Answer{Code: "NoNode"}, Answer{Code: "OK"}), ""},
		{mk(`s0 multi [create "~/a" data="x" acl=[31:world:anyone] mode=0]`, Answer{Code: "OK", Body: "results=[error(NoNode)]"}, Answer{Code: "OK", Body: "results=[create(~/a)]"}), ""},
		{mk(`s0 multi [createContainer "~/a" data="x" acl=[31:world:anyone] mode=5]`, Answer{Code: "OK", Body: "results=[error(BadArguments)]"}, Answer{Code: "MarshallingError"}), "div:multi-ttl-mode-classcast"},
	}
	for _, tc := range cases {
		diffs, _ := Compare(&Sequence{}, &Transcript{Labels: []string{tc.m.Label}, Answers: []Answer{tc.m.Zkd}},
			&Transcript{Labels: []string{tc.m.Label}, Answers: []Answer{tc.m.Ref}})
		got := ""
		if len(diffs) == 1 {
			d := diffs[0]
			switch {
			case d.Divergence != "":
				got = "div:" + d.Divergence
			case d.Known != "" && d.Fixed:
				got = "fix:" + d.Known
			case d.Known != "":
				got = "known:" + d.Known
			}
		}
		if got != tc.want {
			t.Errorf("%s: zkd %q, zookeeper %q: classified %q, want %q", tc.m.Label, tc.m.Zkd, tc.m.Ref, got, tc.want)
		}
	}
}

// TestPipelinedContainerDivergence: the timing-dependent ZooKeeper answer
// to a create pipelined behind an ephemeral-mode createContainer is
// recognised, and only in that shape.
func TestPipelinedContainerDivergence(t *testing.T) {
	container := `s0 createContainer "~/a/d" data="x" acl=[31:world:anyone] mode=1`
	child := `s0 create2 "~/a/d/c" data="y" acl=[31:world:anyone] mode=3`
	mk := func(first string, batch string) *Mismatch {
		tr := &Transcript{
			Labels:  []string{first, child},
			Answers: []Answer{{Code: "OK"}, {Code: "NoChildrenForEphemerals"}},
			Step:    []int{6, 6},
			Batch:   []string{batch, batch},
		}
		return &Mismatch{At: 1, Label: child, Zkd: Answer{Code: "OK"}, Ref: Answer{Code: "NoChildrenForEphemerals"}, RefT: tr, ZkdT: tr}
	}
	if id, _ := matchDivergence(mk(container, "batch 1/2")); id != "pipelined-container-ephemeral-mode" {
		t.Errorf("pipelined behind an ephemeral-mode container: matched %q", id)
	}
	if id, _ := matchDivergence(mk(container, "")); id != "" {
		t.Errorf("not pipelined: matched %q, want none", id)
	}
	persistent := `s0 createContainer "~/a/d" data="x" acl=[31:world:anyone] mode=4`
	if id, _ := matchDivergence(mk(persistent, "batch 1/2")); id != "" {
		t.Errorf("behind a mode-4 container: matched %q, want none", id)
	}
}
