package netio_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/go-zookeeper/zk"
)

// A linearizability check of the ensemble with porcupine: clients spread
// over the servers record a history of operations on a few registers
// (znodes), with the time each was called and answered, while the leader
// goes and comes back; porcupine then searches for a single order of the
// operations that respects real time (an operation answered before another
// was called comes first) and a sequential register's rules. If none
// exists, the ensemble let some client see something no single copy of
// the data could have shown.
//
// What ZooKeeper promises, and so what the history may contain:
//
//   - Writes are linearizable: every setData goes through the leader and is
//     answered only once committed, in one total order of zxids, whichever
//     server the client talks to. Unconditional writes (version -1) and
//     conditional ones (compare-and-set on the version, refused with
//     BadVersion) are both checked; a register is (data, version), and each
//     applied write adds one to the version, which the reply's Stat gives.
//   - Plain reads are not: a follower answers from its own copy, which may
//     lag the leader, so a read there can miss a write another client
//     already saw acknowledged. Only sync followed by a read on the same
//     session counts as a read here: the sync goes to the leader and is
//     answered, in the session's order, after the server has applied
//     every write the leader had proposed when the sync reached it, so
//     the read that follows sees every write that completed before the
//     sync was called. The read's interval is from the call of sync to the
//     answer of the get. (Dropping the sync makes this test fail within a
//     run: follower reads are stale often enough for porcupine to see.
//     Sync is not a quorum operation, so a deposed leader that has not
//     noticed could still answer one; stopping the leader, as here, does
//     not test that case, a partition would.)
//   - A write whose reply never came (the connection broke, the server
//     went, the session expired) has an unknown outcome: it may have been
//     committed, even later, or not at all. Following porcupine's
//     documented treatment of such operations (its etcd Jepsen test), it
//     stays in the history as answered at the very end, with an "unknown"
//     output that the model accepts whatever the state: placed anywhere
//     before the end it is the write having happened; placed last it is
//     the write not having happened, since nothing after it observes the
//     register. A read that fails observed nothing and is dropped.
//
// Each register is checked on its own (Model.Partition): operations on
// different znodes do not constrain each other's linearization.

// linKeys registers, /lin0 .. /lin2, each created with linInitValue.
const (
	linKeys      = 3
	linInitValue = "init"
)

func linPath(key int) string { return fmt.Sprintf("/lin%d", key) }

// linKind is what an operation does to its register.
type linKind uint8

const (
	linRead  linKind = iota // Sync(path) then Get(path)
	linWrite                // Set(path, value, -1)
	linCAS                  // Set(path, value, expect)
)

// linInput is an operation as called.
type linInput struct {
	key    int
	kind   linKind
	value  string // written (linWrite, linCAS)
	expect int32  // expected version (linCAS)
}

// linOutput is an operation's outcome as the client saw it.
type linOutput struct {
	unknown bool   // a write or CAS with no reply: it may or may not have happened
	err     string // why unknown: the call's error
	ok      bool   // the write or CAS was applied (false: CAS refused with BadVersion)
	value   string // read: the data
	version int32  // read: the version read; applied write or CAS: the version after it
}

// linRegister is a znode's state in the model.
type linRegister struct {
	value   string
	version int32
}

// linModel is a znode as a sequential register of (data, version).
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make([][]porcupine.Operation, linKeys)
		for _, op := range history {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		return byKey
	},
	Init: func() any { return linRegister{value: linInitValue} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linRegister), input.(linInput), output.(linOutput)
		applied := linRegister{value: in.value, version: st.version + 1}
		switch in.kind {
		case linRead:
			return out.value == st.value && out.version == st.version, st
		case linWrite:
			if out.unknown {
				return true, applied
			}
			return out.ok && out.version == applied.version, applied
		case linCAS:
			match := st.version == in.expect
			switch {
			case out.unknown && match:
				return true, applied
			case out.unknown:
				return true, st // had it happened, it would have been refused
			case !out.ok:
				return !match, st
			default:
				return match && out.version == applied.version, applied
			}
		}
		panic(fmt.Sprintf("linModel: operation kind %d", in.kind))
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		var res string
		switch {
		case out.unknown:
			res = "unknown (" + out.err + ")"
		case in.kind == linRead:
			res = fmt.Sprintf("%q v%d", out.value, out.version)
		case out.ok:
			res = fmt.Sprintf("ok v%d", out.version)
		default:
			res = "BadVersion"
		}
		switch in.kind {
		case linRead:
			return fmt.Sprintf("sync+get(%s) -> %s", linPath(in.key), res)
		case linWrite:
			return fmt.Sprintf("set(%s, %q, -1) -> %s", linPath(in.key), in.value, res)
		default:
			return fmt.Sprintf("set(%s, %q, %d) -> %s", linPath(in.key), in.value, in.expect, res)
		}
	},
	DescribeState: func(state any) string {
		st := state.(linRegister)
		return fmt.Sprintf("%q v%d", st.value, st.version)
	},
}

// The model can fail: histories that are not linearizable are reported
// Illegal, and the ones that are (including unknown outcomes either way)
// are not.
func TestLinearizableModel(t *testing.T) {
	w := func(v string) linInput { return linInput{kind: linWrite, value: v, expect: -1} }
	cas := func(v string, expect int32) linInput { return linInput{kind: linCAS, value: v, expect: expect} }
	read := linInput{kind: linRead}
	ok := func(version int32) linOutput { return linOutput{ok: true, version: version} }
	saw := func(v string, version int32) linOutput { return linOutput{value: v, version: version} }
	unknown := linOutput{unknown: true}
	bad := linOutput{}
	op := func(client int, in linInput, call, ret int64, out linOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"sequential", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(1, read, 20, 30, saw("a", 1)),
			op(1, cas("b", 1), 40, 50, ok(2)),
			op(0, cas("c", 1), 60, 70, bad),
			op(0, read, 80, 90, saw("b", 2)),
		}, porcupine.Ok},
		{"read concurrent with a write sees either", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(0, w("b"), 20, 50, ok(2)),
			op(1, read, 30, 40, saw("a", 1)),
			op(2, read, 30, 40, saw("b", 2)),
		}, porcupine.Ok},
		{"stale read", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(0, w("b"), 20, 30, ok(2)),
			op(1, read, 40, 50, saw("a", 1)),
		}, porcupine.Illegal},
		{"reads go back in time", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(0, w("b"), 20, 100, ok(2)),
			op(1, read, 30, 40, saw("b", 2)),
			op(2, read, 50, 60, saw("a", 1)),
		}, porcupine.Illegal},
		{"CAS refused although the version matched", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(1, cas("b", 1), 20, 30, bad),
		}, porcupine.Illegal},
		{"two CAS on one version both applied", []porcupine.Operation{
			op(0, cas("a", 0), 0, 10, ok(1)),
			op(1, cas("b", 0), 0, 10, ok(1)),
		}, porcupine.Illegal},
		{"version skipped", []porcupine.Operation{
			op(0, w("a"), 0, 10, ok(1)),
			op(0, w("b"), 20, 30, ok(3)),
		}, porcupine.Illegal},
		{"unknown write seen", []porcupine.Operation{
			op(0, w("a"), 0, 100, unknown),
			op(1, read, 20, 30, saw("a", 1)),
			op(1, w("b"), 40, 50, ok(2)),
		}, porcupine.Ok},
		{"unknown write never seen", []porcupine.Operation{
			op(0, w("a"), 0, 100, unknown),
			op(1, read, 20, 30, saw(linInitValue, 0)),
			op(1, w("b"), 40, 50, ok(1)),
			op(1, read, 60, 70, saw("b", 1)),
		}, porcupine.Ok},
		{"unknown write seen, then unseen", []porcupine.Operation{
			op(0, w("a"), 0, 100, unknown),
			op(1, read, 20, 30, saw("a", 1)),
			op(1, read, 40, 50, saw(linInitValue, 0)),
		}, porcupine.Illegal},
		{"unknown CAS counted in the version", []porcupine.Operation{
			op(0, cas("a", 0), 0, 100, unknown),
			op(1, w("b"), 20, 30, ok(2)),
		}, porcupine.Ok},
		{"unknown CAS on a stale version", []porcupine.Operation{
			op(1, w("b"), 0, 10, ok(1)),
			op(0, cas("a", 0), 20, 100, unknown),
			op(1, read, 30, 40, saw("a", 2)),
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(linModel, tc.history, 10*time.Second); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

const (
	linClients         = 6                       // two per member
	linPhase           = 1500 * time.Millisecond // load before the leader goes, while it is away, after it is back
	linOpsPerClientMax = 5000                    // bounds the history, so the check stays fast
	linCheckTimeout    = 30 * time.Second
	linHaltWait        = 5 * time.Second // for clients to finish their last call after the run
)

// linClient runs operations through one session and records them.
type linClient struct {
	id      int
	c       *e2eClient
	rng     *rand.Rand
	start   time.Time
	ops     []porcupine.Operation
	seq     int
	version [linKeys]int32 // the last version this client saw of each register, for CAS
	errs    map[string]int // failed calls by error
}

// linUnanswered marks, while recording, a write whose outcome is unknown;
// the check gives it the end of the history as its return time.
const linUnanswered = -1

func (l *linClient) now() int64 { return int64(time.Since(l.start)) }

// run issues operations until stop or linOpsPerClientMax.
func (l *linClient) run(stop *atomic.Bool) {
	for n := 0; n < linOpsPerClientMax && !stop.Load(); n++ {
		key := l.rng.IntN(linKeys)
		path := linPath(key)
		switch p := l.rng.IntN(10); {
		case p < 4:
			call := l.now()
			if _, err := l.c.Sync(path); err != nil {
				l.failed(stop, err)
				continue
			}
			data, st, err := l.c.Get(path)
			ret := l.now()
			if err != nil {
				l.failed(stop, err)
				continue
			}
			l.version[key] = st.Version
			l.record(linInput{key: key, kind: linRead}, call, ret, linOutput{value: string(data), version: st.Version})
		default:
			l.seq++
			in := linInput{key: key, kind: linWrite, value: fmt.Sprintf("c%d-%d", l.id, l.seq), expect: -1}
			if p >= 7 {
				in.kind, in.expect = linCAS, l.version[key]
			}
			call := l.now()
			st, err := l.c.Set(path, []byte(in.value), in.expect)
			ret := l.now()
			switch {
			case err == nil:
				l.version[key] = st.Version
				l.record(in, call, ret, linOutput{ok: true, version: st.Version})
			case errors.Is(err, zk.ErrBadVersion):
				l.record(in, call, ret, linOutput{})
			default:
				// Conservative: whatever the error, the write may have
				// been committed. Besides connection loss this covers the
				// SystemError a follower answers while it has no leader:
				// the client cannot tell whether its write had reached
				// the old leader before.
				l.record(in, call, linUnanswered, linOutput{unknown: true, err: err.Error()})
				l.failed(stop, err)
			}
		}
	}
}

func (l *linClient) record(in linInput, call, ret int64, out linOutput) {
	l.ops = append(l.ops, porcupine.Operation{ClientId: l.id, Input: in, Call: call, Output: out, Return: ret})
}

// failed counts err and waits until the client has a session again, so
// that a server away does not fill the history with unknown writes.
func (l *linClient) failed(stop *atomic.Bool, err error) {
	l.errs[err.Error()]++
	for l.c.State() != zk.StateHasSession && !stop.Load() {
		time.Sleep(10 * time.Millisecond)
	}
}

// linStats counts a history's operations by outcome.
type linStats struct {
	reads, writes, casApplied, casRefused, unknown int
	writesAfterChange                              int // writes and applied CAS called once the new leader served
}

func (s linStats) String() string {
	return fmt.Sprintf("%d reads, %d writes, %d CAS applied, %d CAS refused, %d unknown outcomes (%d writes after the leader change)",
		s.reads, s.writes, s.casApplied, s.casRefused, s.unknown, s.writesAfterChange)
}

// Clients pinned two to a member run reads, writes and compare-and-sets
// on three znodes while the leader is stopped and later restarted; the
// history must be linearizable (see the comment at the top of this file
// for what is checked and why).
func TestEnsembleLinearizable(t *testing.T) {
	e, leader := startTestEnsemble(t, 3)
	setup := e2eConnect(t, e.Members[leader].Addr)
	for k := range linKeys {
		if _, err := setup.Create(linPath(k), []byte(linInitValue), 0, e2eOpenACL); err != nil {
			t.Fatalf("create %s: %v", linPath(k), err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	start := time.Now()
	clients := make([]*linClient, linClients)
	for i := range clients {
		clients[i] = &linClient{
			id: i, c: e2eConnect(t, e.Members[i%len(e.Members)].Addr),
			rng: rand.New(rand.NewPCG(seed, uint64(i))), start: start, errs: map[string]int{},
		}
		// Each session must see the registers created: a member that
		// has not applied the creates yet would answer NoNode.
		if _, err := clients[i].c.Sync("/"); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, l := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(&stop) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// halt stops the clients and reports whether they all returned; a
	// call stuck on a server that went away is cut by closing its
	// connection. Deferred too, so that no client outlives a Fatal below.
	halt := func() bool {
		stop.Store(true)
		select {
		case <-done:
			return true
		case <-time.After(linHaltWait):
		}
		for _, l := range clients {
			l.c.Close()
		}
		select {
		case <-done:
			return true
		case <-time.After(e2eWait):
			return false
		}
	}
	defer halt()

	time.Sleep(linPhase)
	stopped := time.Since(start)
	e.Stop(leader)
	next := e.WaitServing(ensembleWait)
	if next < 0 {
		t.Fatalf("no new leader within %v of stopping member %d", ensembleWait, leader)
	}
	changed := int64(time.Since(start))
	t.Logf("leader %d stopped at %v, member %d leads at %v", leader, stopped.Round(time.Millisecond), next, time.Duration(changed).Round(time.Millisecond))
	time.Sleep(linPhase)
	e.Start(leader)
	if e.WaitServing(ensembleWait) < 0 {
		t.Fatalf("member %d did not rejoin within %v", leader, ensembleWait)
	}
	time.Sleep(linPhase)
	if !halt() {
		t.Fatalf("clients still running %v after the run, their connections closed", linHaltWait+e2eWait)
	}
	elapsed := time.Since(start)

	var history []porcupine.Operation
	var stats linStats
	end := int64(0)
	for _, l := range clients {
		if len(l.errs) > 0 {
			t.Logf("client %d (member %d) failed calls: %v", l.id, l.id%len(e.Members), l.errs)
		}
		for _, op := range l.ops {
			end = max(end, op.Call, op.Return)
		}
		history = append(history, l.ops...)
	}
	for i := range history {
		op := &history[i]
		in, out := op.Input.(linInput), op.Output.(linOutput)
		switch {
		case out.unknown:
			op.Return = end + 1
			stats.unknown++
		case in.kind == linRead:
			stats.reads++
		case in.kind == linWrite:
			stats.writes++
		case out.ok:
			stats.casApplied++
		default:
			stats.casRefused++
		}
		if !out.unknown && out.ok && op.Call > changed {
			stats.writesAfterChange++
		}
	}
	checkStart := time.Now()
	// The verbose check, which records partial linearizations for the
	// visualization, costs a pass over the search stack at every
	// backtrack: with a few unknown writes (tried, and given up, at every
	// step after their call) that made a 2,500-operation register take 8 s
	// under -race instead of 0.1 s. So check plainly, and only a failure
	// again verbosely.
	res := porcupine.CheckOperationsTimeout(linModel, history, linCheckTimeout)
	t.Logf("%d operations over %v: %v; checked in %v: %v", len(history), elapsed.Round(time.Millisecond), stats, time.Since(checkStart).Round(time.Millisecond), res)
	switch res {
	case porcupine.Illegal:
		_, info := porcupine.CheckOperationsVerbose(linModel, history, linCheckTimeout)
		f, err := os.CreateTemp("", "zkd-linearizability-*.html")
		if err != nil {
			t.Fatalf("history not linearizable (and no file for its visualization: %v)", err)
		}
		_ = f.Close()
		if err := porcupine.VisualizePath(linModel, info, f.Name()); err != nil {
			t.Fatalf("history not linearizable (visualization failed: %v)", err)
		}
		t.Fatalf("history not linearizable; visualization in %s", f.Name())
	case porcupine.Unknown:
		t.Fatalf("linearizability not decided within %v", linCheckTimeout)
	}
	if stats.writes+stats.casApplied < 100 || stats.reads < 100 || stats.writesAfterChange < 20 {
		t.Fatalf("too few operations for the check to mean much: %v", stats)
	}
}
