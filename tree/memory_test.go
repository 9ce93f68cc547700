package tree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"zkd/netio/jute"
)

// buildBigTree creates dirs directories under /bigtree with leaves leaves
// of 100 bytes each, named as tools/snapbench names them.
func buildBigTree(dirs, leaves int) *Tree {
	tr := New()
	zxid := int64(0)
	create := func(path string, data []byte) {
		zxid++
		x := Txn{Zxid: zxid, Type: jute.OpCreate, Path: path, Data: data, ACL: OpenACLUnsafe, Version: 1}
		tr.Apply(&x, nil)
	}
	create("/bigtree", nil)
	payload := bytes.Repeat([]byte{1}, 100)
	for d := range dirs {
		dir := fmt.Sprintf("/bigtree/d%04d", d)
		create(dir, nil)
		for l := range leaves {
			create(fmt.Sprintf("%s/n%07d", dir, d*leaves+l), payload)
		}
	}
	return tr
}

// BenchmarkTreeMemory reports the live heap per znode of a tree shaped as
// BENCHMARKS.md §3's (1,000 directories of 100-byte leaves), after a GC.
func BenchmarkTreeMemory(b *testing.B) {
	for _, leaves := range []int{100, 1000} {
		b.Run(fmt.Sprintf("znodes=%d", 1000*leaves), func(b *testing.B) {
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tr := buildBigTree(1000, leaves)
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tr.NodeCount()), "heapB/znode")
				runtime.KeepAlive(tr)
			}
		})
	}
}

// BenchmarkGetBigTree looks up leaves of a tree shaped as
// BenchmarkTreeMemory's and reads a byte of their data, as a getData
// does: a few thousand leaves again and again (they stay in cache), or
// all of them in a random order (every lookup misses the cache, as in a
// big working set).
func BenchmarkGetBigTree(b *testing.B) {
	for _, leaves := range []int{100, 1000} {
		tr := buildBigTree(1000, leaves)
		all := make([]string, 1000*leaves)
		for k := range all {
			all[k] = fmt.Sprintf("/bigtree/d%04d/n%07d", k/leaves, k)
		}
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for _, set := range []int{4096, len(all)} {
			b.Run(fmt.Sprintf("znodes=%d/paths=%d", len(all), set), func(b *testing.B) {
				paths := all[:set]
				sink := 0
				for i := range b.N {
					n, ok := tr.Get(paths[i%set])
					if !ok {
						b.Fatal("missing")
					}
					sink += int(n.Data()[0]) // a read sends the data
				}
				_ = sink
			})
		}
	}
}
