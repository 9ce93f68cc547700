package engine_test

import (
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"zkd/netio/loopback"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"zkd/bench/wire"
	"zkd/engine"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/tree"
)

// TestFullDiskServer runs a server over a log whose disk "fills up": while
// writes and syncs of the log fail, every write request is answered with
// SystemError and changes nothing, reads go on, and once space is back
// writes succeed again. Nothing acknowledged is lost.
func TestFullDiskServer(t *testing.T) {
	var full atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !full.Load() {
			return nil
		}
		onLog := strings.HasSuffix(op.Path, ".log") || strings.HasSuffix(op.Path, "zkd-probe")
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpCreate:
			if onLog || op.Kind == errorfs.OpCreate {
				return errorfs.ErrInjected
			}
		}
		return nil
	})
	store, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: "data", FS: errorfs.Wrap(vfs.NewMem(), inj)})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	srv := netio.NewServer(netio.Config{Addr: addr, TickTime: 500 * time.Millisecond}, tr, store.Log,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Stop(); store.Close() }()

	c, err := wire.Dial(addr, wire.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	call := func(op jute.Op, req, resp jute.Record) jute.Err {
		t.Helper()
		h, err := c.Call(op, req, resp)
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		return h.Err
	}
	if e := call(jute.OpCreate, &jute.CreateRequest{Path: "/a", Data: []byte("v0"), ACL: tree.OpenACLUnsafe}, nil); e != jute.ErrOK {
		t.Fatalf("create: %v", e)
	}

	full.Store(true)
	for i := 0; i < 3; i++ {
		if e := call(jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("lost"), Version: -1}, nil); e != jute.ErrSystemError {
			t.Fatalf("setData on a full disk answered %v, want SystemError", e)
		}
	}
	var got jute.GetDataResponse
	if e := call(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"}, &got); e != jute.ErrOK || string(got.Data) != "v0" || got.Stat.Version != 0 {
		t.Fatalf("read during a full disk: %v %q v%d", e, got.Data, got.Stat.Version)
	}

	full.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		e := call(jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("v1"), Version: 0}, nil)
		if e == jute.ErrOK {
			break
		}
		if e != jute.ErrSystemError || time.Now().After(deadline) {
			t.Fatalf("setData after space came back: %v", e)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e := call(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"}, &got); e != jute.ErrOK || string(got.Data) != "v1" || got.Stat.Version != 1 {
		t.Fatalf("after recovery: %v %q v%d", e, got.Data, got.Stat.Version)
	}
}
