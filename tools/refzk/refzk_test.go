package refzk

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// A zkCli run is a JVM start, the commands and a session close; with
	// the parallel tests' servers and other packages' tests sharing two
	// cores, 30 s was once not enough (Created printed, quit unfinished).
	testCliTimeout  = 90 * time.Second
	testProbeTimout = 2 * time.Second
)

func skipUnlessAvailable(t *testing.T) {
	t.Helper()
	if !Available() {
		t.Skip("java or " + JarPath + " not installed")
	}
}

// assertGone checks that pid no longer names a process.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
}

// procsMentioning lists pids of live processes whose command line
// contains every one of subs; used to prove nothing was left behind.
func procsMentioning(t *testing.T, subs ...string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // process ended while scanning
		}
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(string(b), sub)
		}
		if all {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		name, in, mode string
		ok             bool
	}{
		{"standalone", "Zookeeper version: 3.8.0\nZxid: 0x0\nMode: standalone\nNode count: 5\n", "standalone", true},
		{"leader", "Mode: leader\n", "leader", true},
		{"not serving", notServingReplyPrefix + "\n", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode, ok := parseMode(tt.in)
			if mode != tt.mode || ok != tt.ok {
				t.Errorf("parseMode = %q, %v; want %q, %v", mode, ok, tt.mode, tt.ok)
			}
		})
	}
}

func TestFourLetterRejectsBadWord(t *testing.T) {
	for _, w := range []string{"", "ruo", "ruokk"} {
		if _, err := FourLetter("127.0.0.1:1", w, time.Second); err == nil {
			t.Errorf("FourLetter(%q) = nil error", w)
		}
	}
}

func TestStandalone(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	start := time.Now()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	t.Logf("standalone ready at %s (pid %d) in %v", s.Addr(), s.PID(), time.Since(start))
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.Port() == 0 {
		t.Fatalf("Addr %q Port %d", s.Addr(), s.Port())
	}

	if r, err := FourLetter(s.Addr(), "ruok", testProbeTimout); err != nil || r != "imok" {
		t.Fatalf("ruok = %q, %v", r, err)
	}
	if m, err := s.Mode(); err != nil || m != "standalone" {
		t.Fatalf("Mode = %q, %v", m, err)
	}
	conf, err := FourLetter(s.Addr(), "conf", testProbeTimout)
	if err != nil || !strings.Contains(conf, "maxClientCnxns=0") {
		t.Fatalf("conf = %q, %v", conf, err)
	}

	out, err := ZkCli(s.Addr(), []string{
		"create /x data",
		"get /x",
		"ls /",
		"create -t 5000 /ttl t", // needs extendedTypesEnabled, else Unimplemented
		"delete /x",
		"ls /",
	}, testCliTimeout)
	if err != nil {
		t.Fatalf("zkCli: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	want := []string{"Created /x", "data", "[x, zookeeper]", "Created /ttl", "[ttl, zookeeper]"}
	// Each expected line must appear, in this order.
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.TrimSpace(l) == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("zkCli output lacks %q (in order %q):\n%s", want[i], want, out)
	}
	if strings.Contains(out, "KeeperErrorCode") || strings.Contains(out, "Node does not exist") {
		t.Fatalf("zkCli reported an error:\n%s", out)
	}

	pid, dir := s.PID(), s.Dir()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pid)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s not removed: %v", dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestEnsemble(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	const n = 3
	start := time.Now()
	servers, err := StartEnsemble(n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = StopAll(servers) })
	t.Logf("ensemble of %d ready in %v", n, time.Since(start))

	leaders, followers := 0, 0
	var leader, follower *Server
	for _, s := range servers {
		if r, err := FourLetter(s.Addr(), "ruok", testProbeTimout); err != nil || r != "imok" {
			t.Fatalf("%s ruok = %q, %v", s.Addr(), r, err)
		}
		m, err := s.Mode()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("server %d %s pid %d: %s", s.ID(), s.Addr(), s.PID(), m)
		switch m {
		case "leader":
			leaders++
			leader = s
		case "follower":
			followers++
			follower = s
		default:
			t.Errorf("server %d mode %q", s.ID(), m)
		}
	}
	if leaders != 1 || followers != n-1 {
		t.Fatalf("%d leaders, %d followers; want 1, %d", leaders, followers, n-1)
	}

	// A write through a follower is readable on the leader after sync.
	if out, err := ZkCli(follower.Addr(), []string{"create /e replicated"}, testCliTimeout); err != nil || !strings.Contains(out, "Created /e") {
		t.Fatalf("create via follower: %v\n%s", err, out)
	}
	out, err := ZkCli(leader.Addr(), []string{"sync /e", "get /e"}, testCliTimeout)
	if err != nil || !strings.Contains(out, "\nreplicated\n") {
		t.Fatalf("get via leader: %v\n%s", err, out)
	}

	pids := make([]int, 0, n)
	for _, s := range servers {
		pids = append(pids, s.PID())
	}
	if err := StopAll(servers); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		assertGone(t, pid)
	}
}

// A server that never becomes ready within StartTimeout is killed, and a
// given Dir is kept.
func TestStartTimeoutLeavesNoProcess(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	dir := t.TempDir()
	_, err := Start(Options{Dir: dir, StartTimeout: time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Start = %v; want ErrTimeout", err)
	}
	if pids := procsMentioning(t, dir, mainClass); len(pids) > 0 {
		t.Fatalf("java still running for %s: pids %v", dir, pids)
	}
	if _, err := os.Stat(filepath.Join(dir, cfgFileName)); err != nil {
		t.Errorf("given Dir was not kept: %v", err)
	}
}

// A config ZooKeeper rejects makes it exit; Start reports ErrExited with
// the log tail.
func TestStartBadConfig(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	dir := t.TempDir()
	_, err := Start(Options{Dir: dir, Extra: []string{"tickTime=notanumber"}})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start = %v; want ErrExited", err)
	}
	if !strings.Contains(err.Error(), "tail of") {
		t.Errorf("error lacks log tail: %v", err)
	}
	if pids := procsMentioning(t, dir, mainClass); len(pids) > 0 {
		t.Fatalf("java still running for %s: pids %v", dir, pids)
	}
}

// zkCli against a port that accepts but never answers waits for its
// session (a dead port instead fails fast with ConnectionLoss); the timeout
// must kill the shell and its java child.
func TestZkCliTimeoutKillsGroup(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // keep them open, silent, until the test ends
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	addr := ln.Addr().String()
	start := time.Now()
	out, err := ZkCli(addr, []string{"ls /"}, 2*time.Second)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("ZkCli = %v; want ErrTimeout\n%s", err, out)
	}
	if d := time.Since(start); d > 2*time.Second+zkCliWaitDelay+time.Second {
		t.Errorf("ZkCli returned after %v", d)
	}
	if pids := procsMentioning(t, addr, "org.apache.zookeeper.ZooKeeperMain"); len(pids) > 0 {
		t.Fatalf("zkCli java still running: pids %v", pids)
	}
}

// Stop and Start with the same Dir and Port bring the data back; the given
// Dir survives Stop.
func TestRestartKeepsData(t *testing.T) {
	skipUnlessAvailable(t)
	t.Parallel()

	dir := t.TempDir()
	s, err := Start(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	if out, err := ZkCli(s.Addr(), []string{"create /kept v1"}, testCliTimeout); err != nil || !strings.Contains(out, "Created /kept") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s2, err := Start(Options{Dir: dir, Port: s.Port()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Stop() })
	if s2.Addr() != s.Addr() {
		t.Fatalf("restarted on %s, want %s", s2.Addr(), s.Addr())
	}
	out, err := ZkCli(s2.Addr(), []string{"get /kept"}, testCliTimeout)
	if err != nil || !strings.Contains(out, "\nv1\n") {
		t.Fatalf("get after restart: %v\n%s", err, out)
	}
}
