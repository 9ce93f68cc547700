package difftest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Pair runs sequences against zkd and the reference side by side.
type Pair struct {
	Zkd, Ref *Target
	// Prefix names namespaces: Prefix + counter, e.g. "/dt17".
	Prefix string
	next   int
}

// Close ends both admin sessions.
func (p *Pair) Close() {
	p.Zkd.Close()
	p.Ref.Close()
}

// Run runs seq on both servers at once, in one fresh namespace each (the
// same name on both), and returns zkd's and the reference's transcripts.
func (p *Pair) Run(seq *Sequence) (zkd, ref *Transcript) {
	p.next++
	ns := fmt.Sprintf("%s%d", p.Prefix, p.next)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); zkd = RunSequence(p.Zkd, seq, ns) }()
	go func() { defer wg.Done(); ref = RunSequence(p.Ref, seq, ns) }()
	wg.Wait()
	return zkd, ref
}

// Mismatch is one difference between two transcripts of a sequence.
type Mismatch struct {
	RunSeed uint64
	Seq     *Sequence
	At      int // index into the transcripts
	Label   string
	Zkd     Answer
	Ref     Answer
	// Known is the id of a listed zkd bug this matches, or "".
	Known string
	// Divergence is the id of the DIVERGENCES.md entry this matches, or "".
	Divergence string
	// Fixed: the known bugs' Fix functions alone explained the difference.
	Fixed bool
	// ZkdT and RefT are the whole transcripts, for the report.
	ZkdT, RefT *Transcript
}

// Compare walks both transcripts and returns the differences it meets:
// deliberate divergences (DIVERGENCES.md) and known zkd bugs that leave
// no state behind are passed over and returned first; the last element
// is the difference that stopped the walk, if any (an unlisted one, or a
// known bug after which the servers' states may differ). Stopped reports
// whether the walk stopped early.
func Compare(seq *Sequence, zkd, ref *Transcript) (diffs []*Mismatch, stopped bool) {
	n := max(len(zkd.Answers), len(ref.Answers))
	for i := 0; i < n; i++ {
		var za, ra Answer
		var label string
		if i < len(zkd.Answers) {
			za, label = zkd.Answers[i], zkd.Labels[i]
		} else {
			za = Answer{Code: "<no entry>"}
		}
		if i < len(ref.Answers) {
			ra, label = ref.Answers[i], ref.Labels[i]
		} else {
			ra = Answer{Code: "<no entry>"}
		}
		if za.String() == ra.String() {
			continue
		}
		m := &Mismatch{Seq: seq, At: i, Label: label, Zkd: za, Ref: ra, ZkdT: zkd, RefT: ref}
		// Undo the effects of open stateless bugs that have a Fix, so a
		// second difference in the same answer is still seen.
		var fixed []string
		for _, k := range KnownBugs {
			if k.Fix != nil && m.Zkd.String() != m.Ref.String() && k.Fix(m) {
				fixed = append(fixed, k.ID)
			}
		}
		if len(fixed) > 0 && m.Zkd.String() == m.Ref.String() {
			m.Zkd, m.Known, m.Fixed = za, strings.Join(fixed, "+"), true
			diffs = append(diffs, m)
			continue
		}
		if d, stops := matchDivergence(m); d != "" {
			m.Divergence, m.Zkd = d, za
			if len(fixed) > 0 {
				m.Known = strings.Join(fixed, "+")
			}
			diffs = append(diffs, m)
			if stops {
				return diffs, true
			}
			continue
		}
		known, cont := classify(m)
		m.Known = known
		if known != "" && len(fixed) > 0 {
			m.Known = strings.Join(append(fixed, known), "+")
		}
		m.Zkd = za
		diffs = append(diffs, m)
		if !cont {
			return diffs, true
		}
	}
	return diffs, false
}

// Blocking returns the difference that stopped a Compare walk, or nil.
func Blocking(diffs []*Mismatch, stopped bool) *Mismatch {
	if !stopped {
		return nil
	}
	return diffs[len(diffs)-1]
}

// Class groups differences for reports: the op and each answer's code,
// prefixed "events+" when watch events came before the reply.
func (m *Mismatch) Class() string {
	word := func(a Answer) string {
		if len(a.Events) > 0 {
			return "events+" + a.Code
		}
		return a.Code
	}
	return m.op() + " zkd=" + word(m.Zkd) + " zookeeper=" + word(m.Ref)
}

// signature identifies "the same difference" while shrinking: the step's
// id for a step, the label for an epilogue entry.
func (m *Mismatch) signature() string {
	if k := m.stepIndex(); k >= 0 {
		return fmt.Sprintf("step#%d %s", m.Seq.Steps[k].ID, m.Label)
	}
	return m.Label
}

// stepIndex is the index in Seq.Steps of the differing entry's step, or -1.
func (m *Mismatch) stepIndex() int {
	if m.RefT == nil || m.At >= len(m.RefT.Step) {
		return -1
	}
	return m.RefT.Step[m.At]
}

// Report renders a mismatch: seed, sequence index, every entry up to the
// difference with the reference's answer, then both answers.
func (m *Mismatch) Report() string {
	var b strings.Builder
	known := ""
	if m.Known != "" {
		known = " (known zkd bug " + m.Known + ")"
	}
	if m.Divergence != "" {
		known += " (deliberate divergence " + m.Divergence + ")"
	}
	fmt.Fprintf(&b, "difference%s: run seed %d, sequence %d (sequence seed %#x), entry %d of %d\n",
		known, m.RunSeed, m.Seq.Index, m.Seq.Seed, m.At, len(m.RefT.Answers))
	fmt.Fprintf(&b, "  replay: go test ./tools/difftest/ -run TestDifferential -difftest.seed=%d -difftest.seq=%d\n", m.RunSeed, m.Seq.Index)
	for i := 0; i < m.At && i < len(m.RefT.Labels); i++ {
		fmt.Fprintf(&b, "  %3d %s%s\n        -> %s\n", i, m.RefT.Labels[i], batchMark(m.RefT, i), m.RefT.Answers[i])
	}
	fmt.Fprintf(&b, "  %3d %s%s\n", m.At, m.Label, batchMark(m.RefT, m.At))
	fmt.Fprintf(&b, "        zkd:       %s\n", m.Zkd)
	fmt.Fprintf(&b, "        zookeeper: %s\n", m.Ref)
	return b.String()
}

// ShrinkBudget bounds the time spent minimising one sequence.
const ShrinkBudget = 30 * time.Second

// Shrink removes steps from m's sequence while the difference still shows
// at the same step (or epilogue entry), and returns the smallest mismatch
// found. It gives up after budget.
func Shrink(p *Pair, m *Mismatch, budget time.Duration) *Mismatch {
	deadline := time.Now().Add(budget)
	sig := m.signature()
	best := m
	try := func(steps []Step) bool {
		cand := &Sequence{Seed: m.Seq.Seed, Index: m.Seq.Index, Steps: steps}
		zt, rt := p.Run(cand)
		if zt.Setup != nil || rt.Setup != nil {
			return false
		}
		mm := Blocking(Compare(cand, zt, rt))
		if mm == nil || mm.signature() != sig {
			return false
		}
		mm.RunSeed = m.RunSeed
		best = mm
		return true
	}
	steps := slices.Clone(m.Seq.Steps)
	target := -1
	if k := m.stepIndex(); k >= 0 {
		target = steps[k].ID
		steps = steps[:k+1]
		if !try(steps) {
			return best // not reproducible in isolation; keep the original
		}
	}
	for changed := true; changed && time.Now().Before(deadline); {
		changed = false
		for i := len(steps) - 1; i >= 0 && time.Now().Before(deadline); i-- {
			if steps[i].ID == target {
				continue // the step that differs
			}
			cand := slices.Delete(slices.Clone(steps), i, i+1)
			if try(cand) {
				steps, changed = cand, true
			}
		}
	}
	return best
}

func batchMark(tr *Transcript, i int) string {
	if i < len(tr.Batch) && tr.Batch[i] != "" {
		return " [" + tr.Batch[i] + " pipelined]"
	}
	return ""
}
