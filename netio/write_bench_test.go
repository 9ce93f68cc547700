package netio_test

import (
	"testing"

	"zkd/bench/wire"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
)

// BenchmarkServerSetData1KB measures the server's write path in process:
// one session pipelining 100 setData of 1 KB at a time against a
// standalone server with the in-memory log. The client allocates nothing
// per request, so allocs/op is the server's per write (request, txn,
// reply), the figure that pooling on the write path would move.
func BenchmarkServerSetData1KB(b *testing.B) {
	benchServerOps(b, jute.OpSetData, &jute.SetDataRequest{Path: "/b", Data: make([]byte, 1024), Version: -1})
}

// BenchmarkServerGetData1KB is the read path's counterpart.
func BenchmarkServerGetData1KB(b *testing.B) {
	benchServerOps(b, jute.OpGetData, &jute.PathWatchRequest{Path: "/b"})
}

func benchServerOps(b *testing.B, op jute.Op, req jute.Record) {
	const window = 100
	addr := netiotest.Start(b, netio.Config{EventLoops: 1})
	c, err := wire.Dial(addr, wire.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	create := &jute.CreateRequest{Path: "/b", Data: make([]byte, 1024), ACL: []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}}
	if hdr, err := c.Call(jute.OpCreate, create, &jute.PathResponse{}); err != nil || hdr.Err != 0 {
		b.Fatalf("create: %v %v", hdr.Err, err)
	}
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(window, b.N-done)
		for range n {
			if _, err := c.Send(op, req); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Flush(); err != nil {
			b.Fatal(err)
		}
		for range n {
			hdr, _, err := c.Recv()
			if err != nil || hdr.Err != 0 {
				b.Fatalf("reply: %v %v", hdr.Err, err)
			}
		}
		done += n
	}
}
