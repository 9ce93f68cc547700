package bench

import (
	"errors"
	"fmt"
	"strings"

	"zkd/tools/refzk"
)

// Cluster is a running ensemble under test. Server i serves clients at
// Addrs()[i]; PIDs()[i] is its process, 0 when the tool does not know it
// (an ensemble it did not start).
//
// Contract: Addrs and PIDs have the same length and order, fixed for the
// cluster's life; Leader is an index into them (0 for a standalone
// server, -1 when unknown); Stop ends every process the launcher started
// (by PID) and is safe to call twice.
type Cluster interface {
	System() string
	Addrs() []string
	PIDs() []int
	Leader() int
	Stop() error
}

// Launcher starts clusters of one system in the shape a table cell asks
// for. Launch returns an error wrapping ErrEnsembleUnavailable when the
// system cannot run an ensemble of that size at all (the cell then reads
// "n/a" with the error's text as the reason), and other errors when it
// tried and failed.
type Launcher interface {
	System() string
	Launch(servers int) (Cluster, error)
}

// ErrEnsembleUnavailable marks a cell that cannot be measured by design.
var ErrEnsembleUnavailable = errors.New("not available")

// Ensemble sizes the tool starts locally.
const (
	ensembleServersMin = 1
	ensembleServersMax = 13
)

// ZkdLauncher starts zkd binaries on loopback: standalone for one server
// (StartZkd), else an ensemble (StartZkdEnsemble): n processes, each over
// its own temporary directory with a zoo.cfg (server.1..server.n on free
// loopback ports, tickTime=2000, initLimit=10, syncLimit=5) and a myid.
// Launch returns once every server serves and exactly one is leader; the
// Cluster's Leader is that server's index. Stop ends every process by its
// PID and removes the directories.
type ZkdLauncher struct {
	Bin  string   // the zkd binary (BuildZkd)
	Args []string // extra flags for every server; not -config, -addr or -data
}

func (l ZkdLauncher) System() string { return "zkd" }

func (l ZkdLauncher) Launch(servers int) (Cluster, error) {
	if err := checkServers(servers); err != nil {
		return nil, err
	}
	if servers == 1 {
		p, err := StartZkd(l.Bin, l.Args...)
		if err != nil {
			return nil, err
		}
		return &zkdCluster{procs: []*ZkdProcess{p}, leader: 0}, nil
	}
	procs, leader, err := StartZkdEnsemble(l.Bin, servers, l.Args...)
	if err != nil {
		return nil, err
	}
	return &zkdCluster{procs: procs, leader: leader}, nil
}

type zkdCluster struct {
	procs  []*ZkdProcess
	leader int // found by srvr when the ensemble came up
}

func (c *zkdCluster) System() string { return "zkd" }
func (c *zkdCluster) Addrs() []string {
	out := make([]string, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.Addr()
	}
	return out
}
func (c *zkdCluster) PIDs() []int {
	out := make([]int, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.PID()
	}
	return out
}
func (c *zkdCluster) Leader() int { return c.leader }
func (c *zkdCluster) Stop() error { return StopZkds(c.procs) }

// Logs returns the servers' output, for error reports; an ensemble's under
// one header per server.
func (c *zkdCluster) Logs() string {
	if len(c.procs) == 1 {
		return c.procs[0].Logs()
	}
	var b strings.Builder
	for i, p := range c.procs {
		fmt.Fprintf(&b, "--- server %d (%s, pid %d) ---\n%s", i, p.Addr(), p.PID(), p.Logs())
	}
	return b.String()
}

// ZooKeeperLauncher starts Apache ZooKeeper 3.8 (the Debian package) on
// loopback through refzk: standalone for one server, else an ensemble.
type ZooKeeperLauncher struct {
	ForceSync bool     // false writes forceSync=no (no fsync of its log)
	JVMFlags  []string // e.g. "-Xmx1g"; applied to every server
	Extra     []string // more zoo.cfg lines
}

func (l ZooKeeperLauncher) System() string { return "zookeeper" }

func (l ZooKeeperLauncher) Launch(servers int) (Cluster, error) {
	if err := checkServers(servers); err != nil {
		return nil, err
	}
	if !refzk.Available() {
		return nil, fmt.Errorf("%w: Apache ZooKeeper is not installed (apt-get install zookeeper)", ErrEnsembleUnavailable)
	}
	opts := refzk.Options{JVMFlags: l.JVMFlags, Extra: append([]string(nil), l.Extra...)}
	if !l.ForceSync {
		opts.Extra = append(opts.Extra, "forceSync=no")
	}
	var ss []*refzk.Server
	if servers == 1 {
		s, err := refzk.Start(opts)
		if err != nil {
			return nil, err
		}
		ss = []*refzk.Server{s}
	} else {
		var err error
		if ss, err = refzk.StartEnsemble(servers, opts); err != nil {
			return nil, err
		}
	}
	c := &zookeeperCluster{servers: ss}
	c.leader = LeaderIndex(c.Addrs())
	return c, nil
}

type zookeeperCluster struct {
	servers []*refzk.Server
	leader  int
}

func (c *zookeeperCluster) System() string { return "zookeeper" }
func (c *zookeeperCluster) Addrs() []string {
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.Addr()
	}
	return out
}
func (c *zookeeperCluster) PIDs() []int {
	out := make([]int, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.PID()
	}
	return out
}
func (c *zookeeperCluster) Leader() int { return c.leader }
func (c *zookeeperCluster) Stop() error { return refzk.StopAll(c.servers) }

// HostsLauncher names an ensemble that is already running; the tool
// neither starts nor stops it. PIDs, when given (same order as Addrs),
// let the report charge CPU time to each server; they only make sense
// when the servers run on this machine.
type HostsLauncher struct {
	Name      string // system name in the tables; default "hosts"
	HostAddrs []string
	HostPIDs  []int
}

func (l HostsLauncher) System() string {
	if l.Name == "" {
		return "hosts"
	}
	return l.Name
}

func (l HostsLauncher) Launch(servers int) (Cluster, error) {
	if servers != len(l.HostAddrs) {
		return nil, fmt.Errorf("%w: the host list has %d servers", ErrEnsembleUnavailable, len(l.HostAddrs))
	}
	if len(l.HostPIDs) != 0 && len(l.HostPIDs) != len(l.HostAddrs) {
		return nil, fmt.Errorf("bench: %d PIDs for %d hosts", len(l.HostPIDs), len(l.HostAddrs))
	}
	pids := l.HostPIDs
	if len(pids) == 0 {
		pids = make([]int, len(l.HostAddrs))
	}
	return &hostsCluster{name: l.System(), addrs: l.HostAddrs, pids: pids, leader: LeaderIndex(l.HostAddrs)}, nil
}

type hostsCluster struct {
	name   string
	addrs  []string
	pids   []int
	leader int
}

func (c *hostsCluster) System() string  { return c.name }
func (c *hostsCluster) Addrs() []string { return c.addrs }
func (c *hostsCluster) PIDs() []int     { return c.pids }
func (c *hostsCluster) Leader() int     { return c.leader }
func (c *hostsCluster) Stop() error     { return nil }

func checkServers(n int) error {
	if n < ensembleServersMin || n > ensembleServersMax {
		return fmt.Errorf("bench: ensemble of %d servers, want %d..%d", n, ensembleServersMin, ensembleServersMax)
	}
	return nil
}

// knownPIDs returns pids if every one is known, else nil.
func knownPIDs(pids []int) []int {
	for _, p := range pids {
		if p <= 0 {
			return nil
		}
	}
	return pids
}
