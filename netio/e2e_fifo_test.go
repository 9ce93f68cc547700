package netio_test

// End-to-end tests of per-session FIFO order: pipelined requests are
// answered in the order sent, and every read sees the writes the same
// session sent before it.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"zkd/netio/jute"
)

// TestE2EPipelinedFIFO writes many requests in one burst on a raw
// connection (writes and reads interleaved, including reads of other paths
// and errors) and checks the replies: in order, right xids, and each read
// showing exactly the preceding write.
func TestE2EPipelinedFIFO(t *testing.T) {
	addr := e2eStart(t)
	r := e2eRawSession(t, addr)
	if err := r.call(jute.OpCreate, &jute.CreateRequest{Path: "/other", Data: []byte("o"), ACL: e2eWorld}, nil); err != jute.ErrOK {
		t.Fatal(err)
	}

	type expect struct {
		op   jute.Op
		err  jute.Err
		data string // getData: the value it must see
		ver  int32  // getData/setData/exists: the version it must see
	}
	var (
		burst []byte
		want  []expect
		xid   int32 = 100
	)
	add := func(op jute.Op, req jute.Record, e expect) {
		xid++
		e.op = op
		burst = append(burst, e2eRequest(xid, op, req)...)
		want = append(want, e)
	}
	add(jute.OpCreate, &jute.CreateRequest{Path: "/f", Data: []byte("v0"), ACL: e2eWorld}, expect{})
	add(jute.OpGetData, &jute.PathWatchRequest{Path: "/f"}, expect{data: "v0", ver: 0})
	const rounds = 150
	for i := 1; i <= rounds; i++ {
		v := fmt.Sprintf("v%d", i)
		add(jute.OpSetData, &jute.SetDataRequest{Path: "/f", Data: []byte(v), Version: int32(i - 1)}, expect{ver: int32(i)})
		add(jute.OpGetData, &jute.PathWatchRequest{Path: "/f"}, expect{data: v, ver: int32(i)})
		switch i % 5 {
		case 0: // a read of another path is not answered early either
			add(jute.OpGetData, &jute.PathWatchRequest{Path: "/other"}, expect{data: "o"})
		case 1: // a failing write keeps its place
			add(jute.OpSetData, &jute.SetDataRequest{Path: "/f", Data: []byte("no"), Version: 0}, expect{err: jute.ErrBadVersion})
		case 2:
			add(jute.OpExists, &jute.PathWatchRequest{Path: "/f"}, expect{ver: int32(i)})
		case 3:
			add(jute.OpCreate, &jute.CreateRequest{Path: fmt.Sprintf("/f/%d", i), ACL: e2eWorld}, expect{})
			add(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/f"}, expect{})
		case 4:
			add(jute.OpSync, &jute.PathRequest{Path: "/f"}, expect{})
		}
	}
	add(jute.OpDelete, &jute.PathVersionRequest{Path: "/f", Version: -1}, expect{err: jute.ErrNotEmpty})
	add(jute.OpGetData, &jute.PathWatchRequest{Path: "/nope"}, expect{err: jute.ErrNoNode})

	r.mustWrite(burst) // one write: the server sees the whole pipeline at once
	children := 0
	for i, w := range want {
		h, body := r.next()
		if h.Xid != int32(101+i) {
			t.Fatalf("reply %d: xid %d, want %d (replies out of order)", i, h.Xid, 101+i)
		}
		if h.Err != w.err {
			t.Fatalf("reply %d (%v): err %v, want %v", i, w.op, h.Err, w.err)
		}
		if h.Err != jute.ErrOK {
			continue
		}
		switch w.op {
		case jute.OpGetData:
			var rsp jute.GetDataResponse
			if err := jute.Unmarshal(body, &rsp); err != nil {
				t.Fatal(err)
			}
			if string(rsp.Data) != w.data || rsp.Stat.Version != w.ver {
				t.Fatalf("reply %d: getData saw %q version %d, want %q version %d", i, rsp.Data, rsp.Stat.Version, w.data, w.ver)
			}
		case jute.OpSetData, jute.OpExists:
			var rsp jute.StatResponse
			if err := jute.Unmarshal(body, &rsp); err != nil {
				t.Fatal(err)
			}
			if rsp.Stat.Version != w.ver {
				t.Fatalf("reply %d (%v): version %d, want %d", i, w.op, rsp.Stat.Version, w.ver)
			}
		case jute.OpCreate:
			children++
		case jute.OpGetChildren:
			var rsp jute.StringsResponse
			if err := jute.Unmarshal(body, &rsp); err != nil {
				t.Fatal(err)
			}
			if len(rsp.Strings) != children-1 { // the first create was /f itself
				t.Fatalf("reply %d: getChildren saw %d children, want %d", i, len(rsp.Strings), children-1)
			}
		}
	}
	if len(r.events) != 0 {
		t.Errorf("unexpected events: %v", r.events)
	}
}

// TestE2EConcurrentGoroutinesOneSession: goroutines sharing one
// go-zookeeper connection each read their own writes.
func TestE2EConcurrentGoroutinesOneSession(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := fmt.Sprintf("/g%d", w)
			if _, err := c.Create(p, nil, 0, e2eOpenACL); err != nil {
				errs <- err
				return
			}
			for i := 0; i < rounds; i++ {
				v := fmt.Sprintf("%d-%d", w, i)
				if _, err := c.Set(p, []byte(v), int32(i)); err != nil {
					errs <- fmt.Errorf("%s set %d: %w", p, i, err)
					return
				}
				d, st, err := c.Get(p)
				if err != nil || string(d) != v || st.Version != int32(i+1) {
					errs <- fmt.Errorf("%s read after write %d: %q version %d %v", p, i, d, st.Version, err)
					return
				}
			}
		}(w)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * e2eWait):
		t.Fatal("workers stuck")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
