package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zkd/tools/refzk"
)

var ensembleRounds = flag.Int("ensemble.rounds", 6, "SIGKILL rounds in TestEnsembleCrashRecovery")

func TestParseMember(t *testing.T) {
	cases := []struct {
		id           int
		line         string
		peer, client string
		bad          bool
	}{
		{1, "127.0.0.1:2888:3888", "127.0.0.1:2888", "", false},
		{2, "10.0.0.2:2889:3889:participant;127.0.0.1:2182", "10.0.0.2:2889", "127.0.0.1:2182", false},
		{3, "h:1:2;2183", "h:1", "0.0.0.0:2183", false},
		{4, "h:1:2:observer", "", "", true},
		{5, "h", "", "", true},
		{6, "h:notaport:2", "", "", true},
		{0, "h:1:2", "", "", true},
		{256, "h:1:2", "", "", true},
	}
	for _, c := range cases {
		m, err := parseMember(c.id, c.line)
		if (err != nil) != c.bad {
			t.Errorf("server.%d=%s: err %v", c.id, c.line, err)
			continue
		}
		if !c.bad && (m.peer != c.peer || m.client != c.client) {
			t.Errorf("server.%d=%s: got %q %q, want %q %q", c.id, c.line, m.peer, m.client, c.peer, c.client)
		}
	}
}

// procMember is one zkd process of a test ensemble.
type procMember struct {
	id      int
	addr    string
	dataDir string
	cfg     string
	cmd     *exec.Cmd
	logs    *syncBuffer
}

// startProcEnsemble writes n members' zoo.cfg and myid files and starts
// them; each is stopped by its PID at cleanup.
func startProcEnsemble(t *testing.T, bin string, n int) []*procMember {
	t.Helper()
	root := t.TempDir()
	ms := make([]*procMember, n)
	var servers strings.Builder
	for i := range ms {
		ms[i] = &procMember{id: i + 1, addr: freeAddr(t), dataDir: filepath.Join(root, fmt.Sprint(i+1))}
		fmt.Fprintf(&servers, "server.%d=%s:%s\n", i+1, freeAddr(t), strings.Split(freeAddr(t), ":")[1])
	}
	for _, m := range ms {
		if err := os.MkdirAll(m.dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(m.dataDir, "myid"), []byte(fmt.Sprintf("%d\n", m.id)), 0o644); err != nil {
			t.Fatal(err)
		}
		host, port, _ := strings.Cut(m.addr, ":")
		m.cfg = filepath.Join(root, fmt.Sprintf("zoo%d.cfg", m.id))
		cfg := fmt.Sprintf("tickTime=200\ninitLimit=10\nsyncLimit=5\nsnapCount=100\ndataDir=%s\nclientPortAddress=%s\nclientPort=%s\n4lw.commands.whitelist=*\n%s",
			m.dataDir, host, port, servers.String())
		if err := os.WriteFile(m.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		m.start(t, bin)
	}
	return ms
}

func (m *procMember) start(t *testing.T, bin string) {
	t.Helper()
	m.cmd, m.logs = runZkd(t, m.addr, bin, "-config", m.cfg)
}

func (m *procMember) kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	_ = m.cmd.Wait()
}

// waitProcServing waits until every running member serves with one
// leader and returns the leader's index.
func waitProcServing(t *testing.T, ms []*procMember, skip int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		leader, ok := -1, true
		for i, m := range ms {
			if i == skip {
				continue
			}
			out, err := refzk.FourLetter(m.addr, "srvr", time.Second)
			switch {
			case err != nil:
				ok = false
			case strings.Contains(out, "Mode: leader"):
				leader = i
			case !strings.Contains(out, "Mode: follower"):
				ok = false
			}
		}
		if ok && leader >= 0 {
			return leader
		}
		time.Sleep(50 * time.Millisecond)
	}
	var logs strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&logs, "--- server %d\n%s", m.id, m.logs)
	}
	t.Fatalf("ensemble not serving within 30 s; logs:\n%s", logs.String())
	return -1
}

// TestEnsembleCrashRecovery runs three zkd processes under a write load
// through random members and SIGKILLs one member per round (the leader
// every other round), restarting it on its data directory. After each
// round every member, once synced, holds every acknowledged write.
func TestEnsembleCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	bin := buildZkd(t)
	ms := startProcEnsemble(t, bin, 3)
	leader := waitProcServing(t, ms, -1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const writers = 3
	acked := make([]map[string]ackedWrite, writers)
	inflight := make([]map[string]string, writers)
	for w := range acked {
		acked[w], inflight[w] = map[string]ackedWrite{}, map[string]string{}
	}
	fromSnapshot := 0
	for round := range *ensembleRounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				writeLoop(ms[(w+round)%len(ms)].addr, w, round, acked[w], inflight[w], stop)
			}()
		}
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		victim := leader
		if round%2 == 1 {
			victim = (leader + 1 + rng.IntN(len(ms)-1)) % len(ms)
		}
		ms[victim].kill()
		close(stop)
		wg.Wait()
		waitProcServing(t, ms, victim)
		ms[victim].start(t, bin)
		if !strings.Contains(ms[victim].logs.String(), "snapshotZxid=0.0") {
			fromSnapshot++
		}
		leader = waitProcServing(t, ms, -1)
		for _, m := range ms {
			verifyAcked(t, m.addr, acked, inflight, round)
		}
	}
	n := 0
	for w := range acked {
		n += len(acked[w])
	}
	if n == 0 {
		t.Fatal("no write was acknowledged")
	}
	// snapCount=100: most restarts begin from a snapshot, not the log.
	if fromSnapshot == 0 && *ensembleRounds >= 4 {
		t.Fatalf("no restart began from a snapshot; last victim's log:\n%s", ms[0].logs)
	}
	t.Logf("%d znodes, %d rounds (%d restarts from a snapshot), every acknowledged write on every member", n, *ensembleRounds, fromSnapshot)
}

// TestEnsembleZkCli drives the Java client against a follower of a zkd
// ensemble and reads the result through another member.
func TestEnsembleZkCli(t *testing.T) {
	if !refzk.Available() {
		t.Skip("Apache ZooKeeper (Debian package zookeeper) is not installed")
	}
	bin := buildZkd(t)
	ms := startProcEnsemble(t, bin, 3)
	leader := waitProcServing(t, ms, -1)
	follower := (leader + 1) % len(ms)
	out, err := refzk.ZkCli(ms[follower].addr, []string{
		"create /cli hello",
		"create -s /cli/s- x",
		"set /cli world",
		"get /cli",
		"ls /cli",
	}, 60*time.Second)
	if err != nil {
		t.Fatalf("zkCli: %v\n%s", err, out)
	}
	for _, want := range []string{"Created /cli", "Created /cli/s-0000000000", "world", "[s-0000000000]"} {
		if !strings.Contains(out, want) {
			t.Errorf("zkCli output lacks %q:\n%s", want, out)
		}
	}
	out, err = refzk.ZkCli(ms[leader].addr, []string{"sync /cli", "get /cli"}, 60*time.Second)
	if err != nil || !strings.Contains(out, "world") {
		t.Fatalf("read through the leader: %v\n%s", err, out)
	}
}
