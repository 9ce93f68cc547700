package bench

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"zkd/bench/wire"
	"zkd/netio/jute"
	"zkd/tree"
)

// The paper's latency benchmark (section 5.2, modelled on Chubby's): each
// worker sends a create, waits for it, sends an asynchronous delete of the
// new znode and starts the next create at once. Throughput is the creates
// completed over the time all workers took; latency is each create's.

// Bounds of a create run.
const (
	createWorkersMax  = 1000
	createsPerWorkMax = 10_000_000
	createMaxDuration = time.Hour
)

// CreateConfig is one run of the create benchmark.
type CreateConfig struct {
	Addrs            []string // workers are spread evenly, each pinned to one server
	Workers          int      // default 1
	CreatesPerWorker int      // default 2,000 (the paper: 50,000)
	ValueBytes       int      // data of each create; default 0
	// MaxDuration stops the run early (each worker finishes its current
	// create); default 5 minutes.
	MaxDuration time.Duration
	Prefix      string // parent znode; default /zkbench-create
	ServerPIDs  []int
}

// CreateResult is what a create run measured.
type CreateResult struct {
	Workers   int
	Creates   int64
	Errors    int64
	Elapsed   time.Duration
	Lat       *hdrhistogram.Histogram // create latency, µs
	ClientCPU time.Duration
	ServerCPU []time.Duration
}

// CreatesPerSec is creates completed over the run's wall time.
func (r *CreateResult) CreatesPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Creates) / r.Elapsed.Seconds()
}

// RunCreates runs the create benchmark.
func RunCreates(cfg CreateConfig) (*CreateResult, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("bench: no server addresses")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.CreatesPerWorker <= 0 {
		cfg.CreatesPerWorker = 2000
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 5 * time.Minute
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/zkbench-create"
	}
	switch {
	case cfg.Workers > createWorkersMax:
		return nil, fmt.Errorf("bench: %d workers, at most %d", cfg.Workers, createWorkersMax)
	case cfg.CreatesPerWorker > createsPerWorkMax:
		return nil, fmt.Errorf("bench: %d creates per worker, at most %d", cfg.CreatesPerWorker, createsPerWorkMax)
	case cfg.MaxDuration > createMaxDuration:
		return nil, fmt.Errorf("bench: max duration %v, at most %v", cfg.MaxDuration, createMaxDuration)
	case cfg.ValueBytes < 0 || cfg.ValueBytes > valueBytesMax:
		return nil, fmt.Errorf("bench: %d-byte values", cfg.ValueBytes)
	}
	setup, err := wire.Dial(cfg.Addrs[0], wire.Options{Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bench: setup session: %w", err)
	}
	h, err := setup.Call(jute.OpCreate, &jute.CreateRequest{Path: cfg.Prefix, ACL: tree.OpenACLUnsafe}, nil)
	_ = setup.CloseSession()
	if err != nil {
		return nil, err
	}
	if h.Err != jute.ErrOK && h.Err != jute.ErrNodeExists {
		return nil, fmt.Errorf("bench: create %s: %v", cfg.Prefix, h.Err)
	}

	workers := make([]*createWorker, cfg.Workers)
	for i := range workers {
		c, err := wire.Dial(cfg.Addrs[i%len(cfg.Addrs)], wire.Options{Timeout: 30 * time.Second})
		if err != nil {
			for _, w := range workers[:i] {
				w.conn.Close()
			}
			return nil, fmt.Errorf("bench: worker %d: %w", i, err)
		}
		workers[i] = &createWorker{conn: c, lat: newHist(),
			path: fmt.Sprintf("%s/w%04d", cfg.Prefix, i), data: make([]byte, cfg.ValueBytes)}
	}
	defer func() {
		for _, w := range workers {
			_ = w.conn.CloseSession()
		}
	}()
	deadline := time.Now().Add(cfg.MaxDuration)
	cpu0, srv0 := processCPU(), serversCPU(cfg.ServerPIDs)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(cfg.CreatesPerWorker, deadline) }()
	}
	wg.Wait()
	res := &CreateResult{Workers: cfg.Workers, Elapsed: time.Since(start), Lat: newHist()}
	cpu1, srv1 := processCPU(), serversCPU(cfg.ServerPIDs)
	res.ClientCPU = cpu1 - cpu0
	for i := range srv0 {
		res.ServerCPU = append(res.ServerCPU, srv1[i]-srv0[i])
	}
	var firstErr error
	for _, w := range workers {
		res.Creates += w.creates
		res.Errors += w.errors
		res.Lat.Merge(w.lat)
		if w.err != nil && firstErr == nil {
			firstErr = w.err
		}
	}
	return res, firstErr
}

type createWorker struct {
	conn    *wire.Conn
	path    string
	data    []byte
	lat     *hdrhistogram.Histogram
	creates int64
	errors  int64
	err     error
}

func (w *createWorker) run(n int, deadline time.Time) {
	_ = w.conn.SetDeadline(deadline.Add(drainTimeout))
	create := jute.CreateRequest{Path: w.path, Data: w.data, ACL: tree.OpenACLUnsafe}
	del := jute.PathVersionRequest{Path: w.path, Version: -1}
	pendingDeletes := 0
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		sent := time.Now()
		xid, err := w.conn.Send(jute.OpCreate, &create)
		if err == nil {
			err = w.conn.Flush()
		}
		if err != nil {
			w.err = err
			return
		}
		// Replies come in order: first those of earlier deletes, then the
		// create's.
		for {
			hdr, _, err := w.conn.Recv()
			if err != nil {
				w.err = fmt.Errorf("create worker %s: %w", w.path, err)
				return
			}
			if hdr.Xid < 0 {
				continue
			}
			if hdr.Xid != xid {
				pendingDeletes--
				if hdr.Err != jute.ErrOK {
					w.errors++
				}
				continue
			}
			_ = w.lat.RecordValue(max(time.Since(sent).Microseconds(), 1))
			if hdr.Err != jute.ErrOK {
				w.errors++
			} else {
				w.creates++
			}
			break
		}
		// The delete goes out with the next create (or the final flush).
		if _, err := w.conn.Send(jute.OpDelete, &del); err != nil {
			w.err = err
			return
		}
		pendingDeletes++
	}
	if err := w.conn.Flush(); err != nil {
		w.err = err
		return
	}
	for ; pendingDeletes > 0; pendingDeletes-- {
		hdr, _, err := w.conn.Recv()
		if err != nil {
			w.err = err
			return
		}
		if hdr.Xid < 0 {
			pendingDeletes++
			continue
		}
		if hdr.Err != jute.ErrOK {
			w.errors++
		}
	}
}

// CreateTableConfig is the paper's latency table: ensemble sizes ×
// worker counts, for each system.
type CreateTableConfig struct {
	Servers          []int
	Workers          []int
	Systems          []Launcher
	CreatesPerWorker int
	ValueBytes       int
	MaxDuration      time.Duration
	Progress         *Progress
}

// CreateCell is one system at one ensemble size and worker count.
type CreateCell struct {
	System        string   `json:"system"`
	Servers       int      `json:"servers"`
	Workers       int      `json:"workers"`
	Status        string   `json:"status"`
	Reason        string   `json:"reason,omitempty"`
	Creates       int64    `json:"creates"`
	Errors        int64    `json:"errors"`
	ElapsedSec    float64  `json:"elapsed_s"`
	CreatesPerSec float64  `json:"creates_per_s"`
	Latency       Latency  `json:"latency"`
	ClientCPUSec  float64  `json:"client_cpu_s"`
	ServerCPUSec  float64  `json:"server_cpu_s"` // -1 when unknown
	Warnings      []string `json:"warnings,omitempty"`
}

// CreateTable is a finished create benchmark.
type CreateTable struct {
	Meta   Meta `json:"meta"`
	Params struct {
		Servers          []int    `json:"servers"`
		Workers          []int    `json:"workers"`
		Systems          []string `json:"systems"`
		CreatesPerWorker int      `json:"creates_per_worker"`
		ValueBytes       int      `json:"value_bytes"`
		Notes            []string `json:"notes,omitempty"`
	} `json:"params"`
	Cells []CreateCell `json:"cells"`
}

// Find returns the cell or nil.
func (t *CreateTable) Find(system string, servers, workers int) *CreateCell {
	for i := range t.Cells {
		c := &t.Cells[i]
		if c.System == system && c.Servers == servers && c.Workers == workers {
			return c
		}
	}
	return nil
}

// RunCreateTable runs the create benchmark for every cell, one system's
// cluster at a time.
func RunCreateTable(cfg CreateTableConfig) (*CreateTable, error) {
	if len(cfg.Servers) == 0 || len(cfg.Workers) == 0 || len(cfg.Systems) == 0 {
		return nil, errors.New("bench: create table needs servers, workers and systems")
	}
	if cfg.CreatesPerWorker <= 0 {
		cfg.CreatesPerWorker = 2000
	}
	t := &CreateTable{Meta: CollectMeta()}
	t.Params.Servers, t.Params.Workers = cfg.Servers, cfg.Workers
	t.Params.CreatesPerWorker, t.Params.ValueBytes = cfg.CreatesPerWorker, cfg.ValueBytes
	for _, s := range cfg.Systems {
		t.Params.Systems = append(t.Params.Systems, s.System())
	}
	pr := cfg.Progress
	pr.Plan(len(cfg.Servers)*len(cfg.Workers)*len(cfg.Systems), 10*time.Second)
	measured := 0
	for _, n := range cfg.Servers {
		for _, sys := range cfg.Systems {
			cluster, err := sys.Launch(n)
			if err != nil {
				status := launchStatus(err)
				for _, k := range cfg.Workers {
					pr.Skip()
					t.Cells = append(t.Cells, CreateCell{System: sys.System(), Servers: n, Workers: k, Status: status, Reason: err.Error()})
				}
				continue
			}
			for j, k := range cfg.Workers {
				pr.Begin(fmt.Sprintf("%s servers=%d workers=%d", sys.System(), n, k))
				c := CreateCell{System: sys.System(), Servers: n, Workers: k, ServerCPUSec: -1}
				cc := CreateConfig{
					Addrs: cluster.Addrs(), Workers: k, CreatesPerWorker: cfg.CreatesPerWorker,
					ValueBytes: cfg.ValueBytes, MaxDuration: cfg.MaxDuration, ServerPIDs: knownPIDs(cluster.PIDs()),
					Prefix: fmt.Sprintf("/zkbench-create-%d", j),
				}
				res, err := RunCreates(cc)
				if err != nil {
					// Once more, as RunTable does: a dropped connection on a
					// starved ensemble is not a measurement.
					c.Warnings = append(c.Warnings, "measured on the second attempt; the first failed: "+firstLine(err.Error()))
					cc.Prefix += "-retry"
					res, err = RunCreates(cc)
				}
				if err != nil {
					c.Status, c.Reason = StatusError, err.Error()
				} else {
					measured++
					c.Status = StatusOK
					c.Creates, c.Errors, c.ElapsedSec = res.Creates, res.Errors, res.Elapsed.Seconds()
					c.CreatesPerSec, c.Latency = res.CreatesPerSec(), Summarize(res.Lat)
					c.ClientCPUSec = res.ClientCPU.Seconds()
					if len(res.ServerCPU) > 0 {
						var s time.Duration
						for _, d := range res.ServerCPU {
							s += d
						}
						c.ServerCPUSec = s.Seconds()
					}
				}
				pr.End(c.CreatesPerSec)
				t.Cells = append(t.Cells, c)
			}
			_ = cluster.Stop()
		}
	}
	pr.Finish()
	if measured == 0 {
		return t, errors.New("bench: no cell could be measured")
	}
	return t, nil
}

// WriteCreateMarkdown writes the paper's latency table side by side:
// creates per second and mean create latency per system, with the ratio.
func WriteCreateMarkdown(w io.Writer, t *CreateTable) error { return writeCreateMarkdown(w, t, true) }

func writeCreateMarkdown(w io.Writer, t *CreateTable, withMeta bool) error {
	b := &strings.Builder{}
	if withMeta {
		fmt.Fprintf(b, "commit `%s`, %s, started %s\n\n", t.Meta.Commit, t.Meta.Machine(), t.Meta.Started.Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(b, "synchronous create then asynchronous delete; %d creates per worker, %d-byte data", t.Params.CreatesPerWorker, t.Params.ValueBytes)
	for _, n := range t.Params.Notes {
		fmt.Fprintf(b, "; %s", n)
	}
	b.WriteString("\n\n| servers | workers |")
	sys := t.Params.Systems
	for _, s := range sys {
		fmt.Fprintf(b, " %s creates/s | %s mean ms | %s p99 ms |", s, s, s)
	}
	ratio := len(sys) >= 2
	if ratio {
		fmt.Fprintf(b, " %s / %s |", sys[0], sys[1])
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|---|---|", len(sys)) + strings.Repeat("---|", boolInt(ratio)) + "\n")
	notes := &reportNotes{}
	for _, n := range t.Params.Servers {
		for _, k := range t.Params.Workers {
			fmt.Fprintf(b, "| %d | %d |", n, k)
			for _, s := range sys {
				c := t.Find(s, n, k)
				switch {
				case c == nil:
					b.WriteString(" – | – | – |")
				case c.Status != StatusOK:
					fmt.Fprintf(b, " %s (%d) | – | – |", c.Status, notes.ref(c.System+": "+c.Reason))
				default:
					fmt.Fprintf(b, " %s | %.2f | %s |", fmtThousands(c.CreatesPerSec), c.Latency.Mean/1000, fmtMs(c.Latency.P99))
				}
			}
			if ratio {
				a, c := t.Find(sys[0], n, k), t.Find(sys[1], n, k)
				if a != nil && c != nil && a.Status == StatusOK && c.Status == StatusOK && c.CreatesPerSec > 0 {
					fmt.Fprintf(b, " %.2f× |", a.CreatesPerSec/c.CreatesPerSec)
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
	}
	var warnings []string
	for _, c := range t.Cells {
		for _, wn := range c.Warnings {
			warnings = append(warnings, fmt.Sprintf("- %s servers=%d workers=%d: %s\n", c.System, c.Servers, c.Workers, wn))
		}
	}
	if len(warnings) > 0 {
		b.WriteString("\nWarnings:\n\n" + strings.Join(warnings, ""))
	}
	notes.write(b)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCreateCSV writes one row per create cell.
func WriteCreateCSV(w io.Writer, t *CreateTable) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"system", "servers", "workers", "status", "creates", "errors", "elapsed_s", "creates_per_s",
		"mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "client_cpu_s", "server_cpu_s", "reason"})
	for _, c := range t.Cells {
		l := c.Latency
		_ = cw.Write([]string{c.System, strconv.Itoa(c.Servers), strconv.Itoa(c.Workers), c.Status, csvInt(c.Creates), csvInt(c.Errors),
			csvFloat(c.ElapsedSec), csvFloat(c.CreatesPerSec), csvFloat(l.Mean), csvInt(l.P50), csvInt(l.P90), csvInt(l.P99), csvInt(l.P999), csvInt(l.Max),
			csvFloat(c.ClientCPUSec), csvFloat(c.ServerCPUSec), c.Reason})
	}
	cw.Flush()
	return cw.Error()
}
