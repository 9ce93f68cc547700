package wire_test

import (
	"testing"
	"time"

	"zkd/bench/wire"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
	"zkd/tree"
)

func TestCallAndPipeline(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 100 * time.Millisecond})
	c, err := wire.Dial(addr, wire.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession()
	var created jute.PathResponse
	hdr, err := c.Call(jute.OpCreate, &jute.CreateRequest{Path: "/w", Data: []byte("v"), ACL: tree.OpenACLUnsafe}, &created)
	if err != nil || hdr.Err != jute.ErrOK || created.Path != "/w" {
		t.Fatalf("create: %v %v %q", err, hdr.Err, created.Path)
	}
	// Pipelined: setData then getData, sent together; the read must see the write.
	x1, _ := c.Send(jute.OpSetData, &jute.SetDataRequest{Path: "/w", Data: []byte("v2"), Version: -1})
	x2, _ := c.Send(jute.OpGetData, &jute.PathWatchRequest{Path: "/w"})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if h, _, err := c.Recv(); err != nil || h.Xid != x1 || h.Err != jute.ErrOK {
		t.Fatalf("setData reply: %+v %v", h, err)
	}
	h, body, err := c.Recv()
	if err != nil || h.Xid != x2 {
		t.Fatalf("getData reply: %+v %v", h, err)
	}
	var got jute.GetDataResponse
	if err := jute.Unmarshal(body, &got); err != nil || string(got.Data) != "v2" || got.Stat.Version != 1 {
		t.Fatalf("getData: %v %q v%d", err, got.Data, got.Stat.Version)
	}
}
