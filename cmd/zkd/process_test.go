package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"zkd/netio/loopback"

	"github.com/go-zookeeper/zk"

	"zkd/tools/refzk"
)

// buildZkd builds the server binary once per test binary run.
func buildZkd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zkd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startZkd runs the binary with a zoo.cfg and waits for ruok; the process
// is stopped by its PID at cleanup.
// syncBuffer is a bytes.Buffer the child's output goroutine and the test
// can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startZkd(t *testing.T, bin, zooCfg string) (addr string, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	addr = freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	cfg := zooCfg + "\ndataDir=" + filepath.Join(dir, "data") + "\nclientPortAddress=" + host + "\nclientPort=" + port + "\n4lw.commands.whitelist=*\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs = runZkd(t, addr, bin, "-config", cfgPath)
	return addr, cmd, logs
}

// runZkd starts the binary with args, stops it by its PID at cleanup, and
// waits (bounded) until it answers ruok at addr.
func runZkd(t *testing.T, addr, bin string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := refzk.FourLetter(addr, "ruok", time.Second); err == nil && out == "imok" {
			return cmd, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("zkd did not answer ruok; logs:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestZkCliSession drives the Java command-line client against the zkd
// binary: the commands an operator types, and a watch firing.
func TestZkCliSession(t *testing.T) {
	if !refzk.Available() {
		t.Skip("Apache ZooKeeper (Debian package zookeeper) is not installed")
	}
	bin := buildZkd(t)
	addr, cmd, logs := startZkd(t, bin, "tickTime=500")
	out, err := refzk.ZkCli(addr, []string{
		"create /app hello",
		"create /app/c1 one",
		"create -s /app/seq- x",
		"create -e /app/eph e",
		"ls /app",
		"get /app",
		"set /app world",
		"get /app",
		"stat /app",
		"setAcl /app/c1 world:anyone:r",
		"getAcl /app/c1",
		"set /app/c1 denied",
		"get -w /app/c1",
		"delete /app/eph",
		"deleteall /app",
		"ls /",
		"create /w x",
		"get -w /w",
		"set /w y",
		"ls /",
	}, 60*time.Second)
	if err != nil {
		t.Fatalf("zkCli: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Created /app",
		"Created /app/c1",
		"Created /app/seq-0000000001",
		"Created /app/eph",
		"[c1, eph, seq-0000000001]",
		"hello",
		"world",
		"dataVersion = 1",
		"numChildren = 3",
		"'world,'anyone\n: r",
		"Insufficient permission : /app/c1",
		"[w, zookeeper]",
		"WatchedEvent state:SyncConnected type:NodeDataChanged path:/w",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("zkCli output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("zkCli output:\n%s", out)
	}
	// A clean shutdown on SIGTERM.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("zkd exited with %v; logs:\n%s", err, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("zkd did not stop on SIGTERM")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no shutdown log line:\n%s", logs)
	}
}

// -event-loops sets the number of client event loops; a negative count is
// refused before anything starts.
func TestEventLoopsFlag(t *testing.T) {
	if err := run([]string{"-event-loops", "-1"}); err == nil || !strings.Contains(err.Error(), "-event-loops") {
		t.Fatalf("run -event-loops -1: %v", err)
	}
	bin := buildZkd(t)
	addr := freeAddr(t)
	runZkd(t, addr, bin, "-addr", addr, "-data", filepath.Join(t.TempDir(), "data"), "-event-loops", "1")
	c, _, err := zk.Connect([]string{addr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		if _, err := c.Create(fmt.Sprintf("/l%d", i), []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
}
