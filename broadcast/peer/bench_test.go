package peer

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"zkd/broadcast/zab"
)

// BenchmarkLink measures one link on loopback: messages from s1 to s2,
// each a PROPOSAL with one entry of the given size, with at most
// windowMax in flight so the queue never drops. It reports messages and
// bytes per second through the whole path (encode, write, read, decode,
// Recv).
func BenchmarkLink(b *testing.B) {
	const windowMax = 2048
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("entry=%dB", size), func(b *testing.B) {
			ts := ensemble(b, 2, func(c *Config) { c.SendQueueMax = 2 * windowMax })
			for !ts[0].Stats().Peers[2].Connected {
				time.Sleep(time.Millisecond)
			}
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range ts[1].Recv() {
					got.Add(1)
				}
			}()
			m := zab.Message{Type: zab.MsgProposal, From: 1, To: 2, Epoch: 1, Zxid: 1,
				Entries: []zab.Entry{{Zxid: 2, Data: make([]byte, size)}}}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				for int64(i)-got.Load() >= windowMax {
					time.Sleep(20 * time.Microsecond)
				}
				ts[0].Send(m)
			}
			for got.Load() < int64(b.N) {
				time.Sleep(20 * time.Microsecond)
			}
			b.StopTimer()
			if st := ts[0].Stats().Peers[2]; st.Dropped != 0 {
				b.Fatalf("dropped %d", st.Dropped)
			}
			for _, tr := range ts {
				tr.Stop()
			}
			<-done
		})
	}
}
