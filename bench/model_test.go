package bench

import (
	"math"
	"strings"
	"testing"
	"testing/quick"
)

// synthCosts are true per-operation costs (seconds) that synthTable
// generates cells from.
type synthCosts struct{ read, clientWrite, leaderWrite, perFollower, followerWrite float64 }

// synthTable builds the cells a machine of cores cores would measure if
// each system's costs were exactly costs[system] and every cell saturated
// the machine's CPU (the client costing clientPerOp).
func synthTable(servers []int, writes []float64, cores int, costs map[string]synthCosts, clientPerOp float64) *Table {
	t := &Table{Meta: Meta{Cores: cores, Commit: "abc1234", CPUModel: "test CPU", GoVersion: "go"}}
	t.Params = TableParams{Servers: servers, Writes: writes, Sessions: 6, Outstanding: 10, ValueBytes: 1024, Znodes: 10,
		WarmupSec: 1, DurationSec: 10}
	for _, sys := range []string{"zkd", "zookeeper"} {
		k, ok := costs[sys]
		if !ok {
			continue
		}
		t.Params.Systems = append(t.Params.Systems, sys)
		for _, n := range servers {
			for _, f := range writes {
				m := &CostModel{Read: k.read, ClientWrite: k.clientWrite, LeaderWrite: k.leaderWrite,
					PerFollower: k.perFollower, FollowerWrite: k.followerWrite}
				ops := m.PredictShared(n, f, float64(cores), clientPerOp)
				el := 10.0
				total := int64(ops * el)
				writesN := int64(float64(total) * f)
				c := Cell{System: sys, Servers: n, WriteFraction: f, Status: StatusOK, OpsPerSec: float64(total) / el,
					Reads: total - writesN, Writes: writesN, ElapsedSec: el, Leader: 0,
					ClientCPUSec: clientPerOp * float64(total), ReadRequestBytes: 33, ReadReplyBytes: 1112,
					WriteRequestBytes: 1061, WriteReplyBytes: 100,
					Read:  Latency{Count: total - writesN, P50: 900, P90: 1500, P99: 3000, P999: 5000, Max: 9000, Mean: 1000},
					Write: Latency{Count: writesN, P50: 1900, P90: 2500, P99: 4000, P999: 6000, Max: 12000, Mean: 2000},
					All:   Latency{Count: total, P50: 1000, P90: 2000, P99: 3500, P999: 5500, Max: 12000, Mean: 1500},
				}
				var srv float64
				for i := 0; i < n; i++ {
					r, w := c.Reads/int64(n), c.Writes/int64(n)
					role, cpu := "follower", k.read*float64(r)+k.clientWrite*float64(w)+k.followerWrite*float64(writesN)
					if i == 0 {
						role = "leader"
						if n == 1 {
							role = "standalone"
						}
						cpu = k.read*float64(r) + k.clientWrite*float64(w) + (k.leaderWrite+k.perFollower*float64(n-1))*float64(writesN)
					}
					srv += cpu
					c.PerServer = append(c.PerServer, ServerCell{Addr: "127.0.0.1:1", Role: role, CPUSec: cpu, Reads: r, Writes: w,
						Txns: writesN, Fsyncs: writesN / 10})
				}
				c.ServerCPUSec = srv
				c.ClientCPUShare = c.ClientCPUSec / (c.ClientCPUSec + srv)
				t.Cells = append(t.Cells, c)
			}
		}
	}
	return t
}

var (
	zkdCosts = synthCosts{read: 1e-6, clientWrite: 2e-6, leaderWrite: 6e-6, perFollower: 1.5e-6, followerWrite: 4e-6}
	zkCosts  = synthCosts{read: 15e-6, clientWrite: 10e-6, leaderWrite: 20e-6, perFollower: 5e-6, followerWrite: 12e-6}
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-3*math.Max(math.Abs(b), 1e-9) }

// TestFitRecoversCosts: on cells generated from known costs, the fit
// finds them, and its predictions reproduce the cells.
func TestFitRecoversCosts(t *testing.T) {
	tb := synthTable([]int{1, 3, 5}, []float64{0, 0.1, 0.5, 1}, 2, map[string]synthCosts{"zkd": zkdCosts, "zookeeper": zkCosts}, 0.5e-6)
	for sys, want := range map[string]synthCosts{"zkd": zkdCosts, "zookeeper": zkCosts} {
		m, err := FitCostModel(tb, sys)
		if err != nil {
			t.Fatal(err)
		}
		got := synthCosts{m.Read, m.ClientWrite, m.LeaderWrite, m.PerFollower, m.FollowerWrite}
		if !near(got.read, want.read) || !near(got.clientWrite, want.clientWrite) || !near(got.leaderWrite, want.leaderWrite) ||
			!near(got.perFollower, want.perFollower) || !near(got.followerWrite, want.followerWrite) {
			t.Errorf("%s: fitted %+v, want %+v", sys, got, want)
		}
		if !m.HasRead || !m.HasClientWrite || !m.HasLeaderWrite || !m.HasPerFollower || !m.HasFollowerWrite {
			t.Errorf("%s: identified %+v", sys, m)
		}
		if m.RMSRelError > 1e-6 || m.Cells != 12 || m.Observations != 4*(1+3+5) {
			t.Errorf("%s: rms %g cells %d observations %d", sys, m.RMSRelError, m.Cells, m.Observations)
		}
		if !near(m.Client, 0.5e-6) {
			t.Errorf("%s: client cost %g", sys, m.Client)
		}
	}
	cp := BuildCapacity(tb, CapacityOptions{})
	if len(cp.Checks) != 24 {
		t.Fatalf("%d checks", len(cp.Checks))
	}
	for _, ck := range cp.Checks {
		if math.Abs(ck.ErrorPct) > 0.5 {
			t.Errorf("%+v: error %.2f%%", ck, ck.ErrorPct)
		}
	}
}

// TestFitStandaloneOnly: with only a standalone server the write's client
// side folds into the leader's cost and the follower costs are marked
// not measured.
func TestFitStandaloneOnly(t *testing.T) {
	tb := synthTable([]int{1}, []float64{0, 0.5, 1}, 2, map[string]synthCosts{"zkd": zkdCosts}, 0)
	m, err := FitCostModel(tb, "zkd")
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasRead || m.HasClientWrite || m.HasLeaderWrite || m.HasPerFollower || m.HasFollowerWrite {
		t.Errorf("identified %+v from a standalone server", m)
	}
	if !near(m.Read, zkdCosts.read) || !near(m.LeaderWrite+m.ClientWrite, zkdCosts.leaderWrite+zkdCosts.clientWrite) {
		t.Errorf("fitted %v", m)
	}
	if m.ClientWrite != 0 {
		t.Errorf("client write %g: the tie goes to the leader's cost", m.ClientWrite)
	}
}

// TestFitTwoSizes: with ensembles of two sizes (1 and 3) the read cost is
// determined but the write costs are not separable; the fit still
// reproduces the measured cells.
func TestFitTwoSizes(t *testing.T) {
	tb := synthTable([]int{1, 3}, []float64{0, 0.5, 1}, 2, map[string]synthCosts{"zookeeper": zkCosts}, 0)
	m, err := FitCostModel(tb, "zookeeper")
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasRead || !near(m.Read, zkCosts.read) {
		t.Errorf("read %g identified %v", m.Read, m.HasRead)
	}
	if m.HasClientWrite || m.HasLeaderWrite || m.HasPerFollower || m.HasFollowerWrite {
		t.Errorf("write costs identified from two sizes: %+v", m)
	}
	if m.RMSRelError > 1e-6 {
		t.Errorf("rms %g", m.RMSRelError)
	}
}

// TestFitNoData: cells without per-server CPU (an ensemble the tool did
// not start) give no model.
func TestFitNoData(t *testing.T) {
	tb := synthTable([]int{3}, []float64{0.5}, 2, map[string]synthCosts{"zkd": zkdCosts}, 0)
	for i := range tb.Cells[0].PerServer {
		tb.Cells[0].PerServer[i].CPUSec = -1
	}
	if _, err := FitCostModel(tb, "zkd"); err == nil {
		t.Error("fitted without CPU data")
	}
}

// TestPredictProperties: more cores never lower the prediction; more
// writes never raise it when writes cost more CPU than reads and the
// network is not the bound (a read's reply is bigger than a write's, so
// on the network writes are cheaper); the dedicated
// prediction of a standalone server is cores over its cost.
func TestPredictProperties(t *testing.T) {
	m := &CostModel{Read: zkCosts.read, ClientWrite: zkCosts.clientWrite, LeaderWrite: zkCosts.leaderWrite,
		PerFollower: zkCosts.perFollower, FollowerWrite: zkCosts.followerWrite, WriteRequestBytes: 1061, ReadReplyBytes: 1112}
	f := func(n8, c8 uint8, w16 uint16) bool {
		n, cores, w := int(n8%13)+1, float64(c8%64)+1, float64(w16%1001)/1000
		a, _ := m.PredictDedicated(n, w, cores, DefaultNet)
		b, _ := m.PredictDedicated(n, w, cores+1, DefaultNet)
		cpuOnly, _ := m.PredictDedicated(n, w, cores, NetModel{})
		c, _ := m.PredictDedicated(n, math.Min(w+0.1, 1), cores, NetModel{})
		return a > 0 && b >= a*(1-1e-12) && c <= cpuOnly*(1+1e-12)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
	if got, bound := m.PredictDedicated(1, 0, 4, NetModel{}); !near(got, 4/zkCosts.read) || bound != "leader CPU" {
		t.Errorf("standalone reads: %g (%s), want %g", got, bound, 4/zkCosts.read)
	}
	// A slow network binds writes on a large ensemble at the leader.
	if _, bound := m.PredictDedicated(13, 1, 64, NetModel{BytesPerSec: 1e6, ProposalBytes: 60, AckBytes: 40}); bound != "leader network" {
		t.Errorf("bound %q, want leader network", bound)
	}
}

// TestNNLSNonNegative: when the unconstrained fit wants a negative cost,
// the constrained fit clamps it and still fits the rest.
func TestNNLSNonNegative(t *testing.T) {
	var obs []fitRow
	for i := 1; i <= 10; i++ {
		var o fitRow
		o.x[pRead] = float64(i)
		o.x[pLeaderWrite] = float64(i % 3)
		o.y = 2*float64(i) - 0.01*float64(i%3) // a slightly negative write cost
		obs = append(obs, o)
	}
	beta, _ := nnls(obs)
	for j, v := range beta {
		if v < 0 {
			t.Errorf("beta[%d] = %g < 0", j, v)
		}
	}
	if math.Abs(beta[pRead]-2) > 0.02 {
		t.Errorf("read coefficient %g, want about 2", beta[pRead])
	}
}

// TestCapacityJSON: the capacity data of a table encodes as JSON even
// when a system has nothing to fit.
func TestCapacityJSON(t *testing.T) {
	tb := reportTable()
	tb.Cells = append(tb.Cells, Cell{System: "hosts", Servers: 1, Status: StatusOK, Reads: 0, Writes: 0, ElapsedSec: 1,
		PerServer: []ServerCell{{Role: "standalone", CPUSec: 0.1}}})
	tb.Params.Systems = append(tb.Params.Systems, "hosts")
	var b strings.Builder
	if err := WriteJSON(&b, BuildCapacity(tb, CapacityOptions{})); err != nil {
		t.Fatal(err)
	}
}
