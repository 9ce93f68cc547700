package bench

import (
	"errors"
	"fmt"
	"math"
)

// CostModel is the CPU cost of one system's operations, fitted on the
// per-server CPU time of a table's cells. Costs are CPU seconds per
// operation. The model (see WriteCapacity for the assumptions in words):
//
//	leader:   CPU = Read·R_i + ClientWrite·W_i + (LeaderWrite + PerFollower·(N−1))·W
//	follower: CPU = Read·R_i + ClientWrite·W_i + FollowerWrite·W
//
// where R_i and W_i are the reads and writes of the sessions connected to
// server i, W all the writes the ensemble commits and N its size; a
// standalone server is a leader with no followers.
type CostModel struct {
	System        string  `json:"system"`
	Read          float64 `json:"read_s"`           // answering a read, on the server that answers it
	ClientWrite   float64 `json:"client_write_s"`   // a write's client side: decode, forward, reply
	LeaderWrite   float64 `json:"leader_write_s"`   // a write on the leader: prepare, log, fsync, commit, apply
	PerFollower   float64 `json:"per_follower_s"`   // a write on the leader, per follower: proposal, ack, commit
	FollowerWrite float64 `json:"follower_write_s"` // a write on each follower: log, fsync, ack, apply

	// Which costs the cells determine. Without an ensemble, ClientWrite
	// folds into LeaderWrite and the follower terms are not measured; the
	// write costs separate fully only with ensembles of three different
	// sizes (for example 1, 3 and 5), since the leader's, the followers'
	// and the client side's shares all change with N.
	HasRead, HasClientWrite, HasLeaderWrite, HasPerFollower, HasFollowerWrite bool

	// The load generator's CPU per operation (mean over the cells).
	Client float64 `json:"client_s"`
	// Frame bytes per operation seen by the client (mean over the cells).
	ReadRequestBytes, ReadReplyBytes, WriteRequestBytes, WriteReplyBytes float64

	Sizes        []int   `json:"sizes"` // ensemble sizes of the fitted cells
	Cells        int     `json:"cells"`
	Observations int     `json:"observations"`
	RMSRelError  float64 `json:"rms_rel_error"` // of the fitted per-server CPU
}

// Parameter order of the fit; the order breaks ties between collinear
// columns (LeaderWrite is preferred to ClientWrite when only standalone
// cells exist).
const (
	pRead = iota
	pLeaderWrite
	pFollowerWrite
	pPerFollower
	pClientWrite
	nParams
)

type fitRow struct {
	x [nParams]float64 // ops/s (scaled to millions), per the model's columns
	y float64          // CPU cores (CPU seconds per second)
}

// errNoData: no cell had per-server CPU time and roles.
var errNoData = errors.New("bench: no cell with per-server CPU time to fit")

// FitCostModel fits the model for system on t's measured cells with
// non-negative least squares on relative error (each server's CPU counts
// by its relative miss, so a lightly loaded follower weighs as much as a
// busy leader).
func FitCostModel(t *Table, system string) (*CostModel, error) {
	m := &CostModel{System: system}
	var obs, even []fitRow
	var clientSum float64
	var clientN int
	var bytes [4]float64
	var bytesN [2]int
	for i := range t.Cells {
		c := &t.Cells[i]
		if c.System != system || !c.OK() || c.ElapsedSec <= 0 {
			continue
		}
		ops := float64(c.Reads + c.Writes)
		if ops > 0 {
			clientSum += c.ClientCPUSec / ops
			clientN++
		}
		if c.Reads > 0 {
			bytes[0] += c.ReadRequestBytes
			bytes[1] += c.ReadReplyBytes
			bytesN[0]++
		}
		if c.Writes > 0 {
			bytes[2] += c.WriteRequestBytes
			bytes[3] += c.WriteReplyBytes
			bytesN[1]++
		}
		cellObs := observationsOf(c, false)
		if len(cellObs) == 0 {
			continue
		}
		m.Cells++
		obs = append(obs, cellObs...)
		even = append(even, observationsOf(c, true)...)
		if !containsInt(m.Sizes, c.Servers) {
			m.Sizes = append(m.Sizes, c.Servers)
		}
	}
	if clientN > 0 {
		m.Client = clientSum / float64(clientN)
	}
	if bytesN[0] > 0 {
		m.ReadRequestBytes, m.ReadReplyBytes = bytes[0]/float64(bytesN[0]), bytes[1]/float64(bytesN[0])
	}
	if bytesN[1] > 0 {
		m.WriteRequestBytes, m.WriteReplyBytes = bytes[2]/float64(bytesN[1]), bytes[3]/float64(bytesN[1])
	}
	if len(obs) == 0 {
		return m, errNoData
	}
	// Identifiability is a property of the design, not of the noise: it
	// is judged on rows with the sessions' work split exactly evenly, as
	// the model assumes, so that random imbalance between servers does not
	// pass for information that separates the write costs.
	id := identified(even)
	m.HasRead, m.HasClientWrite, m.HasLeaderWrite = id[pRead], id[pClientWrite], id[pLeaderWrite]
	m.HasPerFollower, m.HasFollowerWrite = id[pPerFollower], id[pFollowerWrite]
	coef, rms := nnls(obs)
	const scale = 1e-6 // features are in millions of ops/s
	m.Read = coef[pRead] * scale
	m.LeaderWrite = coef[pLeaderWrite] * scale
	m.FollowerWrite = coef[pFollowerWrite] * scale
	m.PerFollower = coef[pPerFollower] * scale
	m.ClientWrite = coef[pClientWrite] * scale
	m.Observations, m.RMSRelError = len(obs), rms
	if math.IsNaN(rms) {
		return m, errNoData // no column had data (JSON cannot hold NaN either)
	}
	return m, nil
}

// StandaloneOnly reports whether every fitted cell was a single server.
func (m *CostModel) StandaloneOnly() bool {
	return len(m.Sizes) == 1 && m.Sizes[0] == 1
}

// WritesSeparated reports whether every write cost is determined.
func (m *CostModel) WritesSeparated() bool {
	return m.HasClientWrite && m.HasLeaderWrite && m.HasPerFollower && m.HasFollowerWrite
}

func containsInt(a []int, v int) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// observationsOf turns a cell's servers into rows of the fit; a cell
// without every server's CPU time and role gives none. even replaces each
// server's own reads and writes by an even share of the cell's.
func observationsOf(c *Cell, even bool) []fitRow {
	if len(c.PerServer) != c.Servers || c.Servers == 0 {
		return nil
	}
	el := c.ElapsedSec
	w := float64(c.Writes) / el / 1e6
	var out []fitRow
	for i, s := range c.PerServer {
		if s.CPUSec < 0 {
			return nil
		}
		leader := i == c.Leader || s.Role == "leader" || s.Role == "standalone"
		if !leader && s.Role != "follower" {
			return nil // an observer or an unknown role
		}
		var o fitRow
		o.x[pRead] = float64(s.Reads) / el / 1e6
		o.x[pClientWrite] = float64(s.Writes) / el / 1e6
		if even {
			o.x[pRead] = float64(c.Reads) / float64(c.Servers) / el / 1e6
			o.x[pClientWrite] = w / float64(c.Servers)
		}
		if leader {
			o.x[pLeaderWrite] = w
			o.x[pPerFollower] = w * float64(c.Servers-1)
		} else {
			o.x[pFollowerWrite] = w
		}
		o.y = s.CPUSec / el
		out = append(out, o)
	}
	return out
}

// nnls solves min Σ ((x·β − y)/y)² subject to β ≥ 0 exactly, by trying
// every subset of free parameters (2^5 − 1 of them) with ordinary least
// squares and keeping the best feasible one. It returns β and the RMS of
// the relative residuals.
func nnls(obs []fitRow) ([nParams]float64, float64) {
	var best [nParams]float64
	bestSSE := math.Inf(1)
	for mask := 1; mask < 1<<nParams; mask++ {
		var cols []int
		for j := 0; j < nParams; j++ {
			if mask&(1<<j) != 0 {
				cols = append(cols, j)
			}
		}
		beta, ok := leastSquares(obs, cols)
		if !ok {
			continue
		}
		feasible := true
		var full [nParams]float64
		for k, j := range cols {
			if beta[k] < 0 {
				feasible = false
				break
			}
			full[j] = beta[k]
		}
		if !feasible {
			continue
		}
		sse := relSSE(obs, full)
		if sse < bestSSE*(1-1e-9) {
			best, bestSSE = full, sse
		}
	}
	if math.IsInf(bestSSE, 1) {
		return best, math.NaN()
	}
	return best, math.Sqrt(bestSSE / float64(len(obs)))
}

// identified reports, for each parameter, whether the rows determine it:
// whether no direction of the design matrix's null space moves it. The
// columns are scaled to unit norm first so the tolerance is relative.
func identified(obs []fitRow) [nParams]bool {
	var norm [nParams]float64
	for _, o := range obs {
		for j := range norm {
			norm[j] += o.x[j] * o.x[j]
		}
	}
	var a [nParams][nParams]float64
	for _, o := range obs {
		for i := 0; i < nParams; i++ {
			for j := 0; j < nParams; j++ {
				if norm[i] > 0 && norm[j] > 0 {
					a[i][j] += o.x[i] / math.Sqrt(norm[i]) * o.x[j] / math.Sqrt(norm[j])
				}
			}
		}
	}
	// Reduced row echelon form.
	const tol = 1e-9
	pivotOf := [nParams]int{} // column -> row, -1 for a free column
	row := 0
	for col := 0; col < nParams; col++ {
		pivotOf[col] = -1
		p := -1
		for r := row; r < nParams; r++ {
			if math.Abs(a[r][col]) > tol && (p < 0 || math.Abs(a[r][col]) > math.Abs(a[p][col])) {
				p = r
			}
		}
		if p < 0 {
			continue
		}
		a[row], a[p] = a[p], a[row]
		pv := a[row][col]
		for c := 0; c < nParams; c++ {
			a[row][c] /= pv
		}
		for r := 0; r < nParams; r++ {
			if r != row && a[r][col] != 0 {
				f := a[r][col]
				for c := 0; c < nParams; c++ {
					a[r][c] -= f * a[row][c]
				}
			}
		}
		pivotOf[col] = row
		row++
	}
	var out [nParams]bool
	for j := range out {
		out[j] = norm[j] > 0
	}
	// Each free column f spans a null vector: v_f = 1, v_p = -a[row(p)][f].
	for f := 0; f < nParams; f++ {
		if pivotOf[f] >= 0 {
			continue
		}
		out[f] = false
		for p := 0; p < nParams; p++ {
			if r := pivotOf[p]; r >= 0 && math.Abs(a[r][f]) > 1e-6 {
				out[p] = false
			}
		}
	}
	return out
}

func relWeight(y float64) float64 { return 1 / math.Max(y, 0.01) }

func relSSE(obs []fitRow, beta [nParams]float64) float64 {
	var sse float64
	for _, o := range obs {
		var p float64
		for j := range beta {
			p += beta[j] * o.x[j]
		}
		r := (p - o.y) * relWeight(o.y)
		sse += r * r
	}
	return sse
}

// leastSquares solves the weighted normal equations on the chosen
// columns; ok is false when they are singular (a column with no data, or
// two that move together).
func leastSquares(obs []fitRow, cols []int) ([]float64, bool) {
	k := len(cols)
	a := make([][]float64, k)
	for i := range a {
		a[i] = make([]float64, k+1)
	}
	for _, o := range obs {
		wt := relWeight(o.y)
		wt *= wt
		for i, ci := range cols {
			for j, cj := range cols {
				a[i][j] += wt * o.x[ci] * o.x[cj]
			}
			a[i][k] += wt * o.x[ci] * o.y
		}
	}
	var scale float64
	for i := range a {
		scale = math.Max(scale, math.Abs(a[i][i]))
	}
	if scale == 0 {
		return nil, false
	}
	// Gaussian elimination with partial pivoting.
	for col := 0; col < k; col++ {
		p := col
		for r := col + 1; r < k; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if math.Abs(a[p][col]) < 1e-9*scale {
			return nil, false
		}
		a[col], a[p] = a[p], a[col]
		for r := 0; r < k; r++ {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for c := col; c <= k; c++ {
				a[r][c] -= f * a[col][c]
			}
		}
	}
	out := make([]float64, k)
	for i := range out {
		out[i] = a[i][k] / a[i][i]
	}
	return out, true
}

// LeaderCost is the leader's CPU seconds per operation of the ensemble
// (reads and writes spread evenly over n servers, fraction w writes).
func (m *CostModel) LeaderCost(n int, w float64) float64 {
	fn := float64(n)
	return m.Read*(1-w)/fn + m.ClientWrite*w/fn + (m.LeaderWrite+m.PerFollower*float64(n-1))*w
}

// FollowerCost is one follower's CPU seconds per operation of the ensemble.
func (m *CostModel) FollowerCost(n int, w float64) float64 {
	fn := float64(n)
	return m.Read*(1-w)/fn + m.ClientWrite*w/fn + m.FollowerWrite*w
}

// PredictShared is the throughput when the n servers and the load
// generator share one machine of cores cores, as in a local run: the
// cores divided by the CPU time one operation costs everywhere.
func (m *CostModel) PredictShared(n int, w, cores, clientPerOp float64) float64 {
	total := m.LeaderCost(n, w) + float64(n-1)*m.FollowerCost(n, w) + clientPerOp
	if total <= 0 {
		return 0
	}
	return cores / total
}

// NetModel bounds a dedicated deployment by its network.
type NetModel struct {
	BytesPerSec float64 // each server's outbound bandwidth; 0 = unbounded
	// Quorum message overhead: a proposal carries the write's request plus
	// ProposalBytes; an ack and a commit are AckBytes each.
	ProposalBytes, AckBytes float64
}

// DefaultNet is a 10 Gbit/s NIC and ZooKeeper-sized quorum packets.
var DefaultNet = NetModel{BytesPerSec: 10e9 / 8, ProposalBytes: 60, AckBytes: 40}

// PredictDedicated is the throughput of n servers with cores cores each
// (and a network per net), the load generated elsewhere. bound says what
// limits it: "leader CPU", "follower CPU", "leader network" or
// "follower network".
func (m *CostModel) PredictDedicated(n int, w, cores float64, net NetModel) (float64, string) {
	best, bound := math.Inf(1), ""
	try := func(v float64, why string) {
		if v > 0 && v < best {
			best, bound = v, why
		}
	}
	if c := m.LeaderCost(n, w); c > 0 {
		try(cores/c, "leader CPU")
	}
	if n > 1 {
		if c := m.FollowerCost(n, w); c > 0 {
			try(cores/c, "follower CPU")
		}
	}
	if net.BytesPerSec > 0 {
		fn := float64(n)
		replies := (1-w)/fn*m.ReadReplyBytes + w/fn*m.WriteReplyBytes
		leaderOut := replies + w*float64(n-1)*(m.WriteRequestBytes+net.ProposalBytes+net.AckBytes)
		try(net.BytesPerSec/leaderOut, "leader network")
		if n > 1 {
			followerOut := replies + w/fn*m.WriteRequestBytes + w*net.AckBytes
			try(net.BytesPerSec/followerOut, "follower network")
		}
	}
	if math.IsInf(best, 1) {
		return 0, "no cost measured"
	}
	return best, bound
}

func (m *CostModel) String() string {
	return fmt.Sprintf("%s: read %.2f µs, client write %.2f µs, leader write %.2f µs + %.2f µs per follower, follower write %.2f µs",
		m.System, m.Read*1e6, m.ClientWrite*1e6, m.LeaderWrite*1e6, m.PerFollower*1e6, m.FollowerWrite*1e6)
}
