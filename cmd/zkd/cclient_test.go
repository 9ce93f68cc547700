package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const cliMt = "/usr/lib/zookeeper/bin/cli_mt"

// TestCClientSession drives Apache ZooKeeper's C client (cli_mt, from the
// Debian package zookeeper-bin) against the zkd binary: creates, an
// ephemeral, reads, a write, a child listing and a watch firing.
func TestCClientSession(t *testing.T) {
	if _, err := os.Stat(cliMt); err != nil {
		t.Skip("the C client (Debian package zookeeper-bin) is not installed")
	}
	bin := buildZkd(t)
	addr, _, _ := startZkd(t, bin, "tickTime=500")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliMt, addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// cli_mt runs each command asynchronously: give each one its reply
	// before the next, so the transcript reads in order.
	for _, line := range []string{
		"create /c", "create +e /c/e", "set /c world", "get /c", "ls /c", "wget /c", "set /c again", "quit",
	} {
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	stdin.Close()
	_ = cmd.Wait()
	text := out.String()
	for _, want := range []string{
		"Watcher SESSION_EVENT state = CONNECTED_STATE",
		"value_len = 5\nworld",
		"\te\n",
		"Watcher CHANGED_EVENT state = CONNECTED_STATE for path /c",
		"version=2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("C client output lacks %q", want)
		}
	}
	if strings.Contains(text, "rc = -") {
		t.Errorf("a command failed")
	}
	if t.Failed() {
		t.Logf("cli_mt output:\n%s", text)
	}
}
