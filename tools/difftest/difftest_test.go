package difftest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"zkd/netio/jute"
	"zkd/tools/refzk"
)

var (
	flagSeeds = flag.Int("difftest.seeds", 0,
		"number of sequences to run (each has its own seed); 0 means the default of sequencesDefault")
	flagSeed   = flag.Uint64("difftest.seed", 0, "run seed; 0 picks one at random (it is printed)")
	flagSeq    = flag.Int("difftest.seq", -1, "run only this sequence index of the run seed")
	flagShrink = flag.Bool("difftest.shrink", true, "minimise sequences that show an unlisted difference")
	flagShow   = flag.Bool("difftest.show", false, "log every transcript (the reference's answers)")
	flagMaxBad = flag.Int("difftest.maxfail", 5, "shrink at most this many unlisted differences")
	flagStats  = flag.Bool("difftest.stats", false, "log how often the reference answered each op with each code")
	flagUnskip = flag.String("difftest.unskip", "", "comma-separated KnownBugs ids to treat as unlisted (to check a fix)")
)

// sequencesDefault is the default run: about 20 s with both servers.
const sequencesDefault = 600

// requiredOps must each be sent at least once by a default run.
var requiredOps = []jute.Op{
	jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpDelete,
	jute.OpExists, jute.OpGetData, jute.OpSetData, jute.OpGetACL, jute.OpSetACL,
	jute.OpGetChildren, jute.OpGetChildren2, jute.OpGetAllChildrenNumber, jute.OpGetEphemerals,
	jute.OpCheck, jute.OpMulti, jute.OpMultiRead, jute.OpSync, jute.OpAuth, jute.OpSetWatches,
	jute.OpSetWatches2, jute.OpAddWatch, jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpWhoAmI,
	jute.OpPing, jute.OpCloseSession,
}

// applyUnskip drops the -difftest.unskip ids from KnownBugs for one test.
func applyUnskip(t *testing.T) {
	if *flagUnskip == "" {
		return
	}
	saved := KnownBugs
	t.Cleanup(func() { KnownBugs = saved })
	drop := strings.Split(*flagUnskip, ",")
	KnownBugs = slices.DeleteFunc(slices.Clone(saved), func(k KnownBug) bool { return slices.Contains(drop, k.ID) })
}

func newPair(t *testing.T) *Pair {
	t.Helper()
	applyUnskip(t)
	if !refzk.Available() {
		t.Skip("Apache ZooKeeper 3.8 (Debian zookeeper package) or java not installed")
	}
	zaddr := startZkd(t)
	ref := startRef(t)
	p := &Pair{Zkd: &Target{Name: "zkd", Addr: zaddr}, Ref: &Target{Name: "zookeeper", Addr: ref.Addr()}, Prefix: "/dt"}
	t.Cleanup(p.Close)
	return p
}

func TestDifferential(t *testing.T) {
	p := newPair(t)
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	n := sequencesDefault
	if *flagSeeds > 0 {
		n = *flagSeeds
	}
	first, last := 0, n
	if *flagSeq >= 0 {
		first, last = *flagSeq, *flagSeq+1
	}
	t.Logf("difftest: run seed %d, sequences %d..%d (replay with -difftest.seed=%d)", seed, first, last-1, seed)

	start := time.Now()
	opCount := map[jute.Op]int{}
	known := map[string]int{}
	divergent := map[string]int{}
	codes := map[string]int{}
	knownExample := map[string]*Mismatch{}
	unlisted := map[string]int{}
	var unlistedOrder []string
	steps := 0
	for i := first; i < last; i++ {
		seq := Generate(seed, i)
		for _, st := range seq.Steps {
			for _, sub := range append([]Step{st}, st.Batch...) {
				opCount[sub.Op]++
				if m, ok := sub.Req.(*jute.MultiRequest); ok {
					for _, op := range m.Ops {
						opCount[op.Op]++
					}
				}
			}
		}
		steps += len(seq.Steps)
		zt, rt := p.Run(seq)
		if rt.Setup != nil {
			t.Fatalf("sequence %d: %v", i, rt.Setup)
		}
		if zt.Setup != nil {
			t.Fatalf("sequence %d: %v", i, zt.Setup)
		}
		if rt.Cleanup != nil {
			t.Fatalf("sequence %d: %v", i, rt.Cleanup)
		}
		if *flagShow {
			t.Logf("sequence %d, zookeeper:\n%s", i, transcriptText(rt))
			t.Logf("sequence %d, zkd:\n%s", i, transcriptText(zt))
		}
		diffs, stopped := Compare(seq, zt, rt)
		for _, d := range diffs {
			d.RunSeed = seed
			switch {
			case d.Divergence != "":
				divergent[d.Divergence]++
			case d.Known != "":
				for _, id := range strings.Split(d.Known, "+") {
					known[id]++
					if knownExample[id] == nil {
						knownExample[id] = d
					}
				}
			}
		}
		for j, a := range rt.Answers {
			f := strings.Fields(rt.Labels[j])
			if len(f) > 1 {
				codes[f[1]+" "+a.Code]++
			}
		}
		m := Blocking(diffs, stopped)
		zlog := zkdLog.Tail(20)
		if m == nil && zt.Cleanup != nil {
			t.Errorf("sequence %d: zkd could not remove the namespace: %v", i, zt.Cleanup)
			continue
		}
		if m == nil || m.Known != "" || m.Divergence != "" {
			continue
		}
		// Report each kind of difference once (shrunk), count the rest.
		class := m.Class()
		unlisted[class]++
		if unlisted[class] > 1 {
			continue
		}
		unlistedOrder = append(unlistedOrder, class)
		if *flagShrink && len(unlistedOrder) <= *flagMaxBad {
			m = Shrink(p, m, ShrinkBudget)
			m.RunSeed = seed
		}
		t.Errorf("unlisted difference [%s] (a zkd bug unless DIVERGENCES.md says otherwise):\n%s  zkd's last log lines:\n    %s",
			class, m.Report(), strings.Join(zlog, "\n    "))
	}
	ids := make([]string, 0, len(known))
	for id := range known {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t.Logf("known zkd bug %s: %d hits; first:\n%s", id, known[id], knownExample[id].Report())
	}
	var unseen []string
	for _, k := range KnownBugs {
		if k.Match != nil || k.Fix != nil {
			if known[k.ID] == 0 {
				unseen = append(unseen, k.ID)
			}
		}
	}
	if len(unseen) > 0 {
		t.Logf("known bugs not seen in this run (fixed, or rare): %v", unseen)
	}
	for _, c := range unlistedOrder {
		t.Errorf("unlisted difference [%s] in %d sequences", c, unlisted[c])
	}
	t.Logf("difftest: %d sequences, %d steps in %v; known-bug hits: %v; divergences passed: %v",
		last-first, steps, time.Since(start).Round(time.Millisecond), known, divergent)
	if *flagStats {
		keys := make([]string, 0, len(codes))
		for k := range codes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "  %-50s %d\n", k, codes[k])
		}
		t.Logf("reference answers by op and code:\n%s", b.String())
	}
	if *flagSeq < 0 {
		for _, op := range requiredOps {
			if opCount[op] == 0 {
				t.Errorf("no sequence sent %s: the generator lost an op", op)
			}
		}
	}
}

func transcriptText(tr *Transcript) string {
	var b strings.Builder
	for i := range tr.Answers {
		fmt.Fprintf(&b, "  %3d %s%s\n        -> %s\n", i, tr.Labels[i], batchMark(tr, i), tr.Answers[i])
	}
	return b.String()
}
