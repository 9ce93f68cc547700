package bench

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio/jute"
	"zkd/tools/refzk"
	"zkd/tree"
)

// ensembleCallTimeout bounds each client call in these tests.
const ensembleCallTimeout = 10 * time.Second

// TestZkdEnsembleLaunch: ZkdLauncher.Launch(3) starts three zkd processes
// on loopback as one ensemble with one leader; Args reach every server; a
// write through one follower is read back (after sync) through the other
// follower and the leader; Stop ends every process by its PID, removes the
// directories, and may be called again.
func TestZkdEnsembleLaunch(t *testing.T) {
	bin := tableTestZkd(t)
	start := time.Now()
	c, err := ZkdLauncher{Bin: bin, Args: []string{"-log-level", "info"}}.Launch(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	t.Logf("ensemble of 3 serving after %v", time.Since(start).Round(time.Millisecond))
	zc := c.(*zkdCluster)

	addrs, pids, leader := c.Addrs(), c.PIDs(), c.Leader()
	if c.System() != "zkd" || len(addrs) != 3 || len(pids) != 3 {
		t.Fatalf("cluster %s: addrs %v pids %v", c.System(), addrs, pids)
	}
	if leader < 0 || leader >= 3 {
		t.Fatalf("leader index %d", leader)
	}
	if got := LeaderIndex(addrs); got != leader {
		t.Errorf("srvr names server %d leader, Launch said %d", got, leader)
	}
	seenAddr, seenPID := map[string]bool{}, map[int]bool{}
	for i := range addrs {
		host, _, err := net.SplitHostPort(addrs[i])
		if err != nil || host != "127.0.0.1" || seenAddr[addrs[i]] {
			t.Errorf("server %d address %q (%v)", i, addrs[i], err)
		}
		if pids[i] <= 0 || seenPID[pids[i]] {
			t.Errorf("server %d pid %d", i, pids[i])
		}
		seenAddr[addrs[i]], seenPID[pids[i]] = true, true
		if logs := zc.procs[i].Logs(); !strings.Contains(logs, "ensemble member") {
			t.Errorf("server %d did not get -log-level info from Args; logs:\n%s", i, tailOf(logs, 2000))
		}
	}

	writer, reader := (leader+1)%3, (leader+2)%3
	want := []byte("written through server " + addrs[writer])
	w := dialEnsemble(t, addrs[writer])
	defer w.Close()
	h, err := w.Call(jute.OpCreate, &jute.CreateRequest{Path: "/ensemble-launch", Data: want, ACL: tree.OpenACLUnsafe}, nil)
	if err != nil || h.Err != jute.ErrOK {
		t.Fatalf("create through follower %d: %v %v\n%s", writer, h.Err, err, zc.Logs())
	}
	for _, i := range []int{reader, leader} {
		r := dialEnsemble(t, addrs[i])
		if h, err := r.Call(jute.OpSync, &jute.PathRequest{Path: "/ensemble-launch"}, nil); err != nil || h.Err != jute.ErrOK {
			t.Fatalf("sync on server %d: %v %v", i, h.Err, err)
		}
		var got jute.GetDataResponse
		h, err := r.Call(jute.OpGetData, &jute.PathWatchRequest{Path: "/ensemble-launch"}, &got)
		if err != nil || h.Err != jute.ErrOK || !bytes.Equal(got.Data, want) {
			t.Errorf("read on server %d of a write through server %d: %v %v %q", i, writer, h.Err, err, got.Data)
		}
		r.Close()
	}

	dirs := make([]string, len(zc.procs))
	for i, p := range zc.procs {
		dirs[i] = p.dir
		if _, err := os.Stat(p.dir + "/zoo.cfg"); err != nil {
			t.Errorf("server %d: %v", i, err)
		}
	}
	start = time.Now()
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	t.Logf("stopped after %v", time.Since(start).Round(time.Millisecond))
	for i, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("server %d pid %d after Stop: %v", i, pid, err)
		}
		if _, err := os.Stat(dirs[i]); !os.IsNotExist(err) {
			t.Errorf("server %d directory %s after Stop: %v", i, dirs[i], err)
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// dialEnsemble opens a session on addr with every later read and write
// bounded.
func dialEnsemble(t *testing.T, addr string) *wire.Conn {
	t.Helper()
	c, err := wire.Dial(addr, wire.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(ensembleCallTimeout))
	return c
}

// TestZkdEnsembleLaunchFails: when the servers cannot start, Launch
// returns soon (it notices the exits rather than waiting out its timeout)
// with each server's log in the error.
func TestZkdEnsembleLaunchFails(t *testing.T) {
	bin := tableTestZkd(t)
	start := time.Now()
	_, err := ZkdLauncher{Bin: bin, Args: []string{"-no-such-flag"}}.Launch(3)
	if err == nil {
		t.Fatal("launched with a bad flag")
	}
	if errors.Is(err, ErrEnsembleUnavailable) {
		t.Errorf("a failed launch reported as unavailable: %v", err)
	}
	for _, want := range []string{"exited", "--- log of server 0", "--- log of server 2", "no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if d := time.Since(start); d > zkdEnsembleStartTimeout/2 {
		t.Errorf("failed launch took %v", d)
	}
}

// TestZkdEnsembleLostPort: when a port picked for a server is taken before
// the server binds it, the server exits and Launch starts the ensemble
// again on fresh ports.
func TestZkdEnsembleLostPort(t *testing.T) {
	bin := tableTestZkd(t)
	thief, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	stolen := thief.Addr().(*net.TCPAddr).Port
	picks := 0
	zkdPickPorts = func(n int) ([]int, error) {
		picks++
		ports, err := refzk.FreePorts(n)
		if err == nil && picks == 1 {
			ports[3] = stolen // the second server's client port
		}
		return ports, err
	}
	defer func() { zkdPickPorts = refzk.FreePorts }()

	c, err := ZkdLauncher{Bin: bin}.Launch(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if picks != 2 {
		t.Errorf("ports picked %d times, want 2", picks)
	}
	for i, a := range c.Addrs() {
		if a == thief.Addr().String() {
			t.Errorf("server %d on the stolen port %s", i, a)
		}
	}
	if l := c.Leader(); l < 0 || l >= 3 {
		t.Errorf("leader %d", l)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
