// Command writeprobe measures what a latency-sensitive client sees while a
// server or an ensemble is busy: it fills a tree of n znodes, keeps a
// background setData load running over them (so that snapshots come every
// snapCount writes), and times one synchronous setData every interval,
// reporting p50/p99/p99.9/max of those probe writes. It runs against any
// servers given by address (zkd or Apache ZooKeeper, standalone or an
// ensemble); it starts none itself.
//
// Example (a 3-server zkd ensemble on 2281-2283 with snapCount=40000):
//
//	go run ./tools/writeprobe -servers 127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283 -nodes 300000 -duration 20s
//
// Every loop is bounded: the fill by -nodes, the probe by -duration.
package main
