package difftest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"zkd/netio/loopback"

	"zkd/broadcast"
	"zkd/netio"
	"zkd/tools/refzk"
	"zkd/tree"
)

// reaperOff is long enough that neither server reaps containers or TTL
// nodes during a run: the reaper's deletes are transactions taken at
// server-chosen times, which would shift zxids between the servers.
const reaperOff = time.Hour

// logRing keeps the last lines zkd logged, for failure reports.
type logRing struct {
	mu    sync.Mutex
	lines []string
}

const logRingLinesMax = 200

func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	if over := len(l.lines) - logRingLinesMax; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	return len(p), nil
}

// Tail returns up to n of the last lines and forgets them all.
func (l *logRing) Tail(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines[max(0, len(l.lines)-n):]
	l.lines = nil
	return out
}

// zkdLog is the log of the zkd started last by startZkd.
var zkdLog = &logRing{}

// startZkd runs an in-process zkd on a free loopback port, configured as
// the reference is (TTL nodes on, the same super digest).
func startZkd(t testing.TB) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	srv := netio.NewServer(netio.Config{
		Addr: addr, TickTime: 2 * time.Second, ExtendedTypes: true,
		FourLetterWords: []string{"*"}, SuperDigest: SuperDigest,
		ContainerCheckInterval: reaperOff,
	}, tree.New(), &broadcast.MemLog{}, slog.New(slog.NewTextHandler(zkdLog, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return addr
}

// startRef runs Apache ZooKeeper 3.8 with TTL nodes, the super digest,
// no fsync (speed; durability is not under test) and the reaper off.
func startRef(t testing.TB) *refzk.Server {
	t.Helper()
	s, err := refzk.Start(refzk.Options{
		Extra: []string{
			"extendedTypesEnabled=true",
			"DigestAuthenticationProvider.superDigest=" + SuperDigest,
			"forceSync=no",
		},
		JVMFlags: []string{"-Dznode.container.checkIntervalMs=3600000", "-Xmx512m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop reference: %v", err)
		}
	})
	return s
}
