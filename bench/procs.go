package bench

import (
	"bytes"
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
	dir  string
	logs *lockedBuffer
}

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
// and waits until it answers ruok.
func StartZkd(bin string, extraArgs ...string) (*ZkdProcess, error) {
	dir, err := os.MkdirTemp("", "zkbench-zkd-")
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-addr", addr, "-data", filepath.Join(dir, "data"), "-log-level", "warn"}, extraArgs...)
	p := &ZkdProcess{addr: addr, dir: dir, logs: &lockedBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if out, err := refzk.FourLetter(addr, "ruok", time.Second); err == nil && out == "imok" {
			return p, nil
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("bench: zkd did not start; logs:\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *ZkdProcess) Name() string { return "zkd" }
func (p *ZkdProcess) Addr() string { return p.addr }
func (p *ZkdProcess) PID() int     { return p.cmd.Process.Pid }

// Logs returns what the process printed.
func (p *ZkdProcess) Logs() string { return p.logs.String() }

// Stop sends SIGTERM, then SIGKILL after 10 s, and reaps the process.
func (p *ZkdProcess) Stop() error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		err = <-done
	}
	os.RemoveAll(p.dir)
	return err
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
