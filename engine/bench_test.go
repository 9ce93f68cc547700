package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend: `outstanding` goroutines append 1 KB setData txns, one
// per Append, to a log on the real filesystem with fsync on. Reports
// txns/s and txns/sync (how many txns each fsync carried: group commit).
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 5000x ./engine/
func BenchmarkAppend(b *testing.B) {
	for _, outstanding := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("outstanding=%d", outstanding), func(b *testing.B) {
			l, err := OpenLog(LogOptions{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			a := &orderedAppender{l: l}
			var left atomic.Int64
			left.Store(int64(b.N))
			b.SetBytes(1024)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range outstanding {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						if _, err := a.append(1024); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.Txns)/b.Elapsed().Seconds(), "txns/s")
			b.ReportMetric(float64(st.Txns)/float64(max(st.Syncs, 1)), "txns/sync")
		})
	}
}
