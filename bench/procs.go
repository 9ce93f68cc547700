package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"zkd/tools/refzk"
)

// Target is a server process under test.
type Target interface {
	Name() string
	Addr() string
	PID() int
	Stop() error
}

// ZkdProcess is a zkd server binary started on loopback.
type ZkdProcess struct {
	cmd  *exec.Cmd
	addr string
	dir  string // removed by Stop once the process is gone; "" removes nothing
	logs *lockedBuffer

	exited  chan struct{} // closed once the process is reaped (watch)
	waitErr error         // the process's exit; valid once exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Bounds on starting and stopping zkd processes.
const (
	zkdStartTimeout         = 15 * time.Second // standalone: until ruok
	zkdEnsembleStartTimeout = 60 * time.Second // ensemble: until one leader and the rest followers
	zkdStopGraceTimeout     = 10 * time.Second // SIGTERM to SIGKILL
	zkdKillWaitTimeout      = 10 * time.Second // SIGKILL to reaped
	zkdPollInterval         = 50 * time.Millisecond
	zkdProbeTimeout         = time.Second
	zkdPortAttemptsMax      = 3 // fresh ports after a lost bind race
	zkdLogTailBytesMax      = 4096
	zkdTickTimeMs           = 2000
	zkdInitLimit            = 10 // tickTimes
	zkdSyncLimit            = 5  // tickTimes
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BuildZkd builds cmd/zkd from the module at moduleDir into dir.
func BuildZkd(moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "zkd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/zkd")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: building zkd: %v\n%s", err, out)
	}
	return bin, nil
}

// StartZkd runs bin standalone on a free loopback port with extra flags,
// and waits until it answers ruok. On failure the process is stopped and
// the error carries the end of its log.
func StartZkd(bin string, extraArgs ...string) (*ZkdProcess, error) {
	dir, err := os.MkdirTemp("", "zkbench-zkd-")
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append([]string{"-addr", addr, "-data", filepath.Join(dir, "data"), "-log-level", "warn"}, extraArgs...)
	p, err := launchZkd(bin, addr, dir, args)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(zkdStartTimeout)
	for {
		if out, err := refzk.FourLetter(addr, "ruok", zkdProbeTimeout); err == nil && out == "imok" {
			return p, nil
		}
		var why string
		select {
		case <-p.exited:
			why = fmt.Sprintf("exited (%v)", p.waitErr)
		default:
			if time.Now().After(deadline) {
				why = fmt.Sprintf("did not answer ruok within %v", zkdStartTimeout)
			}
		}
		if why != "" {
			err := withZkdLogTail(fmt.Errorf("bench: zkd pid %d on %s %s", p.PID(), addr, why), "zkd", p)
			return nil, errors.Join(err, p.Stop())
		}
		time.Sleep(zkdPollInterval)
	}
}

// StartZkdEnsemble runs servers zkd processes (myid 1..servers) on
// loopback as one ensemble, each over its own temporary directory (zoo.cfg,
// myid, and the data under zab/) that Stop removes, with extraArgs given
// to every one. It returns once every server answers srvr as leader or
// follower and exactly one as leader, with that one's index; within
// zkdEnsembleStartTimeout, and after fresh ports if a port chosen was
// taken before zkd bound it. On failure every process is stopped and the
// error carries the end of each server's log. extraArgs must not set
// -config, -addr or -data, which the ensemble's layout owns.
func StartZkdEnsemble(bin string, servers int, extraArgs ...string) ([]*ZkdProcess, int, error) {
	if servers < 2 {
		return nil, -1, fmt.Errorf("bench: a zkd ensemble of %d servers; StartZkd runs one", servers)
	}
	var err error
	for attempt := 1; attempt <= zkdPortAttemptsMax; attempt++ {
		var procs []*ZkdProcess
		var leader int
		var retry bool
		if procs, leader, retry, err = startZkdEnsembleOnce(bin, servers, extraArgs); err == nil {
			return procs, leader, nil
		}
		if !retry {
			break
		}
		err = fmt.Errorf("bench: attempt %d of %d lost a port to another process: %w", attempt, zkdPortAttemptsMax, err)
	}
	return nil, -1, err
}

// startZkdEnsembleOnce starts one attempt; retry says a server lost the
// race for one of its ports, so fresh ports may work.
func startZkdEnsembleOnce(bin string, n int, extraArgs []string) (procs []*ZkdProcess, leader int, retry bool, err error) {
	fail := func(err error) ([]*ZkdProcess, int, bool, error) {
		for i, p := range procs {
			select {
			case <-p.exited:
				if strings.Contains(strings.ToLower(p.Logs()), "address already in use") {
					retry = true
				}
			default:
			}
			err = withZkdLogTail(err, fmt.Sprintf("server %d (myid %d, %s, pid %d)", i, i+1, p.addr, p.PID()), p)
		}
		return nil, -1, retry, errors.Join(err, StopZkds(procs))
	}
	ports, err := zkdPickPorts(3 * n) // client, peer, election per server
	if err != nil {
		return nil, -1, false, err
	}
	var members strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&members, "server.%d=127.0.0.1:%d:%d\n", i+1, ports[3*i+1], ports[3*i+2])
	}
	for i := 0; i < n; i++ {
		dir, err := os.MkdirTemp("", fmt.Sprintf("zkbench-zkd%d-", i+1))
		if err != nil {
			return fail(err)
		}
		cfg := filepath.Join(dir, "zoo.cfg")
		lines := fmt.Sprintf("tickTime=%d\ninitLimit=%d\nsyncLimit=%d\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n%s",
			zkdTickTimeMs, zkdInitLimit, zkdSyncLimit, dir, ports[3*i], members.String())
		werr := os.WriteFile(cfg, []byte(lines), 0o644)
		if werr == nil {
			werr = os.WriteFile(filepath.Join(dir, "myid"), []byte(fmt.Sprintf("%d\n", i+1)), 0o644)
		}
		if werr != nil {
			os.RemoveAll(dir)
			return fail(werr)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i]))
		p, err := launchZkd(bin, addr, dir, append([]string{"-config", cfg, "-log-level", "warn"}, extraArgs...))
		if err != nil {
			return fail(err)
		}
		procs = append(procs, p)
	}
	deadline := time.Now().Add(zkdEnsembleStartTimeout)
	for {
		leader, why, exited := ensembleReady(procs)
		if why == "" {
			return procs, leader, false, nil
		}
		if exited {
			return fail(fmt.Errorf("bench: zkd ensemble of %d: %s", n, why))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("bench: zkd ensemble of %d not serving within %v: %s", n, zkdEnsembleStartTimeout, why))
		}
		time.Sleep(zkdPollInterval)
	}
}

// ensembleReady asks every server with srvr; it returns the leader's index
// once all serve with exactly one leader, else why not, and whether a
// process has exited (which waiting will not mend).
func ensembleReady(procs []*ZkdProcess) (leader int, why string, exited bool) {
	leader = -1
	var notReady []string
	for i, p := range procs {
		select {
		case <-p.exited:
			return -1, fmt.Sprintf("server %d (pid %d) exited: %v", i, p.PID(), p.waitErr), true
		default:
		}
		out, err := refzk.FourLetter(p.addr, "srvr", zkdProbeTimeout)
		role, _, _ := parseSrvr(out)
		switch {
		case err != nil:
			notReady = append(notReady, fmt.Sprintf("server %d: %v", i, err))
		case role == "leader" && leader >= 0:
			return -1, fmt.Sprintf("servers %d and %d both say leader", leader, i), false
		case role == "leader":
			leader = i
		case role != "follower":
			notReady = append(notReady, fmt.Sprintf("server %d: mode %q", i, role))
		}
	}
	if len(notReady) > 0 {
		return -1, strings.Join(notReady, "; "), false
	}
	if leader < 0 {
		return -1, "no leader", false
	}
	return leader, "", false
}

// launchZkd starts bin with args and a watcher that reaps it; it does not
// wait for the server to be ready. dir, if not "", is the process's own
// directory, removed by Stop (or here, if the process does not start).
func launchZkd(bin, addr, dir string, args []string) (*ZkdProcess, error) {
	p := &ZkdProcess{addr: addr, dir: dir, logs: &lockedBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	// If the test or tool dies without calling Stop, the kernel kills the
	// server rather than leaving it bound to its ports.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("bench: start %s: %w", bin, err)
	}
	p.watch()
	return p, nil
}

// watch reaps the process in the background and closes exited.
func (p *ZkdProcess) watch() {
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
}

func (p *ZkdProcess) Name() string { return "zkd" }
func (p *ZkdProcess) Addr() string { return p.addr }
func (p *ZkdProcess) PID() int     { return p.cmd.Process.Pid }

// Logs returns what the process printed.
func (p *ZkdProcess) Logs() string { return p.logs.String() }

// Stop ends the process by its PID (SIGTERM, then SIGKILL after 10 s),
// reaps it, and then removes its directory. It is safe to call more than
// once; later calls return the first call's result.
func (p *ZkdProcess) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *ZkdProcess) stop() error {
	if p.exited == nil {
		// Started by its owner (ZkdBig) rather than launchZkd: nothing
		// reaps it yet.
		p.watch()
	}
	select {
	case <-p.exited:
	default:
		// An error means the process has already finished; exited will
		// be closed by the watcher.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(zkdStopGraceTimeout):
			_ = p.cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(zkdKillWaitTimeout):
				return fmt.Errorf("bench: zkd pid %d still running %v after SIGKILL", p.PID(), zkdKillWaitTimeout)
			}
		}
	}
	err := p.waitErr
	if p.dir != "" {
		// Only once the process is gone, else it may write there again.
		if rmErr := os.RemoveAll(p.dir); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

// StopZkds stops every process (in parallel, each by its PID) and joins
// their errors.
func StopZkds(procs []*ZkdProcess) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// withZkdLogTail appends the end of p's log to err under a header naming
// the server, since Stop removes its directory.
func withZkdLogTail(err error, name string, p *ZkdProcess) error {
	logs := p.Logs()
	if len(logs) > zkdLogTailBytesMax {
		logs = "..." + logs[len(logs)-zkdLogTailBytesMax:]
	}
	if logs == "" {
		logs = "(nothing logged)\n"
	}
	return fmt.Errorf("%w\n--- log of %s ---\n%s", err, name, logs)
}

// Reference is Apache ZooKeeper 3.8 started by refzk.
type Reference struct{ S *refzk.Server }

func (r Reference) Name() string { return "zookeeper" }
func (r Reference) Addr() string { return r.S.Addr() }
func (r Reference) PID() int     { return r.S.PID() }
func (r Reference) Stop() error  { return r.S.Stop() }

// StartReference starts Apache ZooKeeper standalone on loopback. forceSync
// false sets zoo.cfg forceSync=no (no fsync of its log); jvmFlags are
// passed to java (e.g. "-Xmx2g").
func StartReference(forceSync bool, jvmFlags ...string) (Reference, error) {
	var extra []string
	if !forceSync {
		extra = append(extra, "forceSync=no")
	}
	s, err := refzk.Start(refzk.Options{JVMFlags: jvmFlags, Extra: extra})
	return Reference{S: s}, err
}

// ProcessCPU reads a process's user+system CPU time from /proc.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name (which may contain spaces) start at
	// the last ')'; utime and stime are fields 14 and 15 overall.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short /proc stat for %d", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// ProcessRSS reads a process's resident set size in bytes.
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS for %d", pid)
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// zkdPickPorts picks free loopback ports; a test replaces it to lose a
// race.
var zkdPickPorts = refzk.FreePorts
