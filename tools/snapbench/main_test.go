package main

import (
	"strings"
	"testing"
	"time"

	"zkd/bench"
)

// TestReportGoals: the goal table compares the clean restart and the
// snapshot file, and marks each goal pass or fail.
func TestReportGoals(t *testing.T) {
	tr := bench.BigTree{Nodes: 1000, Payload: bench.PayloadJSON}.WithDefaults()
	restarts := func(first time.Duration) []bench.RestartResult {
		return []bench.RestartResult{
			{Label: "after fill", Serving: bench.ServingTimes{FirstRead: 10 * first, MarkerRead: 10 * first}},
			{Label: "clean", Serving: bench.ServingTimes{FirstRead: first, MarkerRead: first}},
		}
	}
	zkd := &bench.BigTreeResult{Server: "zkd", Tree: tr, SnapshotFileBytes: 40 << 20,
		RSSAfterLoad: 100 << 20, RSSAfterRestart: 200 << 20, Restarts: restarts(time.Second)}
	zk := &bench.BigTreeResult{Server: "zookeeper", Tree: tr, SnapshotFileBytes: 100 << 20,
		RSSAfterLoad: 900 << 20, RSSAfterRestart: 500 << 20, Restarts: restarts(2 * time.Second)}
	var b strings.Builder
	report(&b, options{nodes: 1000, payloads: []string{bench.PayloadJSON}, snapSmall: 10}, []*bench.BigTreeResult{zkd, zk})
	out := b.String()
	for _, want := range []string{
		"| json | snapshot size ≤ 1/2 of ZooKeeper's | 40.0 MiB | 100.0 MiB | 0.40× | pass |",
		"| json | restart to first getData ≥ 3× faster | 1.00 s | 2.00 s | 2.0× faster | **fail** |",
		"| json | RSS after fill ≤ 1/3 of ZooKeeper's | 100.0 MiB | 900.0 MiB | 0.11× | pass |",
		"| json | RSS after restart ≤ 1/3 of ZooKeeper's | 200.0 MiB | 500.0 MiB | 0.40× | **fail** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
