package zab

import (
	"fmt"
	"testing"
)

// BenchmarkBroadcast measures the core's CPU per proposal: proposals go in
// batches (one Ready each on the leader), through PROPOSAL, ACK and COMMIT
// on an in-memory cluster with instant disks and network. Reported per
// proposal; disk and network cost nothing here.
func BenchmarkBroadcast(b *testing.B) {
	for _, servers := range []int{3, 5} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("servers=%d/batch=%d", servers, batch), func(b *testing.B) {
				c := newCluster(b, servers, nil)
				l := c.leader()
				c.noTrace = true
				data := make([]byte, 100)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					for range min(batch, b.N-i) {
						if _, err := l.Propose(data); err != nil {
							b.Fatal(err)
						}
					}
					c.stabilize()
					if i%(1<<16) == 0 {
						// Keep the harness's disks and the logs small.
						for _, id := range c.ids {
							c.applied[id] = c.applied[id][:0]
							n := c.nodes[id]
							if err := n.Compact(n.applied); err != nil {
								b.Fatal(err)
							}
							c.disks[id].entries = nil
						}
					}
				}
			})
		}
	}
}
