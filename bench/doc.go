// Package bench measures zkd and Apache ZooKeeper side by side: the
// paper's workload (many sessions, each with a number of requests
// outstanding on its connection, 1 KB getData reads and setData writes on
// pre-created znodes, a write fraction from 0 to 1), with latency
// percentiles from HDR histograms and the CPU time of the load generator
// and of each server process, so a report shows which side was the
// bottleneck.
//
// Contract:
//  1. Start the targets (StartZkd, StartReference) or name existing ones.
//  2. Call RunLoad with a LoadConfig; it creates its znodes, warms up,
//     measures for Duration, and returns a LoadResult. It stops by itself.
//  3. Stop the targets (by PID).
//
// Cost sketch: one goroutine per session; per request one encode into a
// reused buffer, one read of the reply frame into a reused buffer, and two
// histogram updates. The generator allocates nothing per request once its
// buffers have grown.
package bench
