package netio_test

// Helpers for the end-to-end tests (e2e_*_test.go): an in-process server on
// a free loopback port, go-zookeeper clients that record their events and
// log lines, a network whose connections a test can freeze or cut, and a
// raw protocol client built on package jute for what go-zookeeper cannot
// send. Every wait here is bounded by a timeout.
//
// The expectations in these tests are Apache ZooKeeper 3.8's. To check
// them against the real thing, run with ZKD_E2E_REFZK=1: every test then
// talks to a fresh Apache ZooKeeper (tools/refzk) instead of zkd.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"zkd/netio/loopback"

	"github.com/go-zookeeper/zk"

	"zkd/broadcast"
	"zkd/netio"
	"zkd/netio/jute"
	"zkd/netio/netiotest"
	"zkd/tools/refzk"
	"zkd/tree"
)

const (
	// e2eWait bounds every wait for something that should happen promptly
	// (a reply, an event, a reconnect).
	e2eWait = 3 * time.Second
	// e2eSessionTimeout is what healthy clients ask for: the server's
	// maximum (20 ticks of 100 ms), so that a slow -race run never expires
	// a session the test did not mean to expire.
	e2eSessionTimeout = 2 * time.Second
	e2eTick           = 100 * time.Millisecond
	e2eSuperAuth      = "super:secret"
)

var e2eOpenACL = zk.WorldACL(zk.PermAll)

// e2eReferenceEnv, set to 1, runs the end-to-end tests against Apache
// ZooKeeper 3.8 (tools/refzk) instead of zkd, to check that what the tests
// expect is what ZooKeeper does. Each test then starts a JVM (1-2 s).
const e2eReferenceEnv = "ZKD_E2E_REFZK"

// e2eEnsembleEnv, set to 1, runs the end-to-end tests against a follower
// of a three-server zkd ensemble instead of a standalone server.
const e2eEnsembleEnv = "ZKD_E2E_ENSEMBLE"

// e2eStart starts a server on a free 127.0.0.1 port with the configuration
// the end-to-end tests share (tick 100 ms, TTL nodes on, every four-letter
// word, containers checked every 200 ms, super:secret as the super user),
// after applying mutate, and stops it when the test ends. It returns the
// address.
func e2eStart(t testing.TB, mutate ...func(*netio.Config)) string {
	t.Helper()
	newCfg := func() netio.Config {
		cfg := netio.Config{
			Addr:                   e2eFreeAddr(t),
			TickTime:               e2eTick,
			ExtendedTypes:          true,
			FourLetterWords:        []string{"*"},
			ContainerCheckInterval: 200 * time.Millisecond,
			SuperDigest:            tree.DigestOf(e2eSuperAuth),
		}
		for _, m := range mutate {
			m(&cfg)
		}
		return cfg
	}
	if e2eReference() {
		return e2eStartReference(t, newCfg())
	}
	if os.Getenv(e2eEnsembleEnv) == "1" {
		cfg := newCfg()
		e := netiotest.StartEnsemble(t, 3, cfg)
		leader := e.WaitServing(15 * time.Second)
		if leader < 0 {
			t.Fatal("ensemble not serving")
		}
		return e.Members[(leader+1)%3].Addr
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cfg := newCfg()
		srv := netio.NewServer(cfg, tree.New(), &broadcast.MemLog{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := srv.Start(); err != nil {
			lastErr = err // another process took the port: try a fresh one
			continue
		}
		t.Cleanup(srv.Stop)
		return cfg.Addr
	}
	t.Fatalf("starting server: %v", lastErr)
	return ""
}

// e2eMode is what srvr reports for the server e2eStart started.
func e2eMode() string {
	if os.Getenv(e2eEnsembleEnv) == "1" {
		return "follower"
	}
	return "standalone"
}

// e2eReference reports whether the tests run against Apache ZooKeeper.
func e2eReference() bool { return os.Getenv(e2eReferenceEnv) == "1" }

// e2eStartReference starts Apache ZooKeeper configured as cfg says.
func e2eStartReference(t testing.TB, cfg netio.Config) string {
	t.Helper()
	if !refzk.Available() {
		t.Skip("Apache ZooKeeper is not installed")
	}
	opts := refzk.Options{
		TickTimeMs: int(cfg.TickTime / time.Millisecond),
		Extra: []string{
			"DigestAuthenticationProvider.superDigest=" + cfg.SuperDigest,
			"4lw.commands.whitelist=" + strings.Join(cfg.FourLetterWords, ","),
		},
		JVMFlags: []string{fmt.Sprintf("-Dznode.container.checkIntervalMs=%d", cfg.ContainerCheckInterval/time.Millisecond)},
	}
	if cfg.MaxRequestBytes > 0 {
		opts.JVMFlags = append(opts.JVMFlags, fmt.Sprintf("-Djute.maxbuffer=%d", cfg.MaxRequestBytes))
	}
	srv, err := refzk.Start(opts)
	if err != nil {
		t.Fatalf("starting Apache ZooKeeper: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv.Addr()
}

func e2eFreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return addr
}

// e2eEvents records every event a go-zookeeper client reports through its
// callback (session state changes and node events, in arrival order). The
// callback runs on the client's receive loop before the client processes
// the next frame, so an event recorded here was received before any reply
// that followed it on the wire.
type e2eEvents struct {
	mu      sync.Mutex
	evs     []zk.Event
	changed chan struct{} // closed and replaced on every add
}

func newE2EEvents() *e2eEvents { return &e2eEvents{changed: make(chan struct{})} }

func (e *e2eEvents) add(ev zk.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// snapshot returns the events so far and a channel closed on the next one.
func (e *e2eEvents) snapshot() ([]zk.Event, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]zk.Event(nil), e.evs...), e.changed
}

func (e *e2eEvents) all() []zk.Event {
	evs, _ := e.snapshot()
	return evs
}

// count returns how many recorded events match.
func (e *e2eEvents) count(match func(zk.Event) bool) int {
	n := 0
	for _, ev := range e.all() {
		if match(ev) {
			n++
		}
	}
	return n
}

// waitFor waits until an event at index >= from matches and returns its
// index, or -1 when timeout passes first.
func (e *e2eEvents) waitFor(from int, timeout time.Duration, match func(zk.Event) bool) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		evs, changed := e.snapshot()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return i
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return -1
		}
	}
}

func e2eIsState(s zk.State) func(zk.Event) bool {
	return func(ev zk.Event) bool { return ev.Type == zk.EventSession && ev.State == s }
}

func e2eIsNode(typ zk.EventType, path string) func(zk.Event) bool {
	return func(ev zk.Event) bool { return ev.Type == typ && ev.Path == path }
}

// e2eLog collects a go-zookeeper client's log lines: the client logs
// replies it cannot match to a request ("Xid < 0 ...", "Response for
// unknown request ...") instead of failing.
type e2eLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *e2eLog) Printf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// strays returns the lines in which the client reports a reply it could
// not match to a request.
func (l *e2eLog) strays() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, "Xid < 0") || strings.Contains(s, "unknown request") {
			out = append(out, s)
		}
	}
	return out
}

// e2eClient is a go-zookeeper connection with its recorded events and log.
type e2eClient struct {
	*zk.Conn
	events *e2eEvents
	log    *e2eLog
}

// e2eConnect opens a go-zookeeper session and waits until it has one.
// The connection is closed when the test ends.
func e2eConnect(t testing.TB, addr string, opts ...func(*e2eConnectOpts)) *e2eClient {
	t.Helper()
	o := e2eConnectOpts{timeout: e2eSessionTimeout}
	for _, f := range opts {
		f(&o)
	}
	c := &e2eClient{events: newE2EEvents(), log: &e2eLog{}}
	dialer := o.dialer
	if dialer == nil {
		dialer = net.DialTimeout
	}
	conn, _, err := zk.Connect([]string{addr}, o.timeout,
		zk.WithEventCallback(c.events.add), zk.WithLogger(c.log), zk.WithDialer(dialer))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	c.Conn = conn
	t.Cleanup(conn.Close)
	t.Cleanup(func() {
		if s := c.log.strays(); len(s) > 0 {
			t.Errorf("go-zookeeper received replies it could not match to a request: %q", s)
		}
	})
	if c.events.waitFor(0, e2eWait, e2eIsState(zk.StateHasSession)) < 0 {
		t.Fatalf("no session within %v; events: %v", e2eWait, c.events.all())
	}
	return c
}

type e2eConnectOpts struct {
	timeout time.Duration
	dialer  zk.Dialer
}

func e2eWithTimeout(d time.Duration) func(*e2eConnectOpts) {
	return func(o *e2eConnectOpts) { o.timeout = d }
}

func e2eWithDialer(d zk.Dialer) func(*e2eConnectOpts) {
	return func(o *e2eConnectOpts) { o.dialer = d }
}

// e2eCall runs f (a client call that may block forever against a broken
// server) and fails the test if it does not return within e2eWait.
func e2eCall(t testing.TB, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(e2eWait):
		t.Fatalf("%s did not return within %v", what, e2eWait)
		return nil
	}
}

// e2eNet is a dialer whose connections a test can cut (drop) or freeze.
// A frozen network swallows what the client writes (so the server hears
// nothing, not even pings) and refuses new connections; the client's
// reads still work, so the server closing the connection is seen.
type e2eNet struct {
	mu     sync.Mutex
	frozen bool
	conns  []*e2eNetConn
	dials  int
}

func (n *e2eNet) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	n.mu.Lock()
	frozen := n.frozen
	n.mu.Unlock()
	if frozen {
		return nil, errors.New("e2e: network frozen")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	nc := &e2eNetConn{Conn: c, net: n}
	n.mu.Lock()
	n.conns = append(n.conns, nc)
	n.dials++
	n.mu.Unlock()
	return nc, nil
}

func (n *e2eNet) dialCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials
}

func (n *e2eNet) setFrozen(f bool) {
	n.mu.Lock()
	n.frozen = f
	n.mu.Unlock()
}

func (n *e2eNet) isFrozen() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.frozen
}

// drop closes every connection dialed so far behind the client's back.
func (n *e2eNet) drop() {
	n.mu.Lock()
	conns := n.conns
	n.conns = nil
	n.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

type e2eNetConn struct {
	net.Conn
	net *e2eNet
}

func (c *e2eNetConn) Write(b []byte) (int, error) {
	if c.net.isFrozen() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// e2eRaw is a client speaking the wire protocol directly, for requests
// go-zookeeper cannot make (bad input, exact xids, addWatch) and for
// checking the bytes the server sends.
type e2eRaw struct {
	t         testing.TB
	c         net.Conn
	xid       int32
	events    []jute.WatcherEvent // notifications read while waiting for replies
	sessionID int64
	passwd    []byte
	lastZxid  int64 // the newest zxid a reply carried
}

// e2eRawOpenACL is world:anyone with every permission, as a jute record.
var e2eRawOpenACL = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

func e2eRawDial(t testing.TB, addr string) *e2eRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &e2eRaw{t: t, c: c}
}

// e2eRawSession dials and opens a new session.
func e2eRawSession(t testing.TB, addr string) *e2eRaw {
	t.Helper()
	r := e2eRawDial(t, addr)
	rsp, err := r.connect(jute.ConnectRequest{TimeOut: int32(e2eSessionTimeout / time.Millisecond), Passwd: make([]byte, 16)})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if rsp.SessionID == 0 || rsp.TimeOut <= 0 {
		t.Fatalf("connect refused: %+v", rsp)
	}
	r.sessionID, r.passwd = rsp.SessionID, rsp.Passwd
	return r
}

// e2eFrame frames records: a 4-byte length, then the records.
func e2eFrame(recs ...jute.Record) []byte {
	var w jute.Writer
	at := w.BeginFrame()
	for _, rec := range recs {
		rec.Encode(&w)
	}
	w.EndFrame(at)
	return w.B
}

// e2eRequest frames one request.
func e2eRequest(xid int32, op jute.Op, body jute.Record) []byte {
	h := &jute.RequestHeader{Xid: xid, Type: op}
	if body == nil {
		return e2eFrame(h)
	}
	return e2eFrame(h, body)
}

func (r *e2eRaw) write(b []byte) error {
	_ = r.c.SetWriteDeadline(time.Now().Add(e2eWait))
	_, err := r.c.Write(b)
	return err
}

func (r *e2eRaw) mustWrite(b []byte) {
	r.t.Helper()
	if err := r.write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *e2eRaw) readFrame(timeout time.Duration) ([]byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	var head [4]byte
	if _, err := io.ReadFull(r.c, head[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(head[:]))
	if n < 0 || n > 4<<20 {
		return nil, fmt.Errorf("server sent frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.c, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *e2eRaw) connect(req jute.ConnectRequest) (jute.ConnectResponse, error) {
	var rsp jute.ConnectResponse
	if err := r.write(e2eFrame(&req)); err != nil {
		return rsp, err
	}
	b, err := r.readFrame(e2eWait)
	if err != nil {
		return rsp, err
	}
	return rsp, jute.Unmarshal(b, &rsp)
}

// readReply reads the next frame as a reply header and its body.
func (r *e2eRaw) readReply(timeout time.Duration) (jute.ReplyHeader, []byte, error) {
	var h jute.ReplyHeader
	b, err := r.readFrame(timeout)
	if err != nil {
		return h, nil, err
	}
	rd := jute.NewReader(b)
	h.Decode(rd)
	if rd.Err() != nil {
		return h, nil, fmt.Errorf("reply header: %w", rd.Err())
	}
	return h, rd.Rest(), nil
}

// next reads the next reply that is not a watch event, recording events.
func (r *e2eRaw) next() (jute.ReplyHeader, []byte) {
	r.t.Helper()
	for {
		h, body, err := r.readReply(e2eWait)
		if err != nil {
			r.t.Fatalf("reading reply: %v", err)
		}
		if h.Xid == jute.XidWatchEvent {
			r.recordEvent(body)
			continue
		}
		return h, body
	}
}

func (r *e2eRaw) recordEvent(body []byte) {
	r.t.Helper()
	var ev jute.WatcherEvent
	if err := jute.Unmarshal(body, &ev); err != nil {
		r.t.Fatalf("decoding watch event: %v", err)
	}
	r.events = append(r.events, ev)
}

// call sends one request with the next xid and returns its reply's error
// code, decoding the body into rsp (if not nil) on success.
func (r *e2eRaw) call(op jute.Op, req, rsp jute.Record) jute.Err {
	r.t.Helper()
	r.xid++
	xid := r.xid
	r.mustWrite(e2eRequest(xid, op, req))
	h, body := r.next()
	if h.Xid != xid {
		r.t.Fatalf("%v: reply xid %d, want %d", op, h.Xid, xid)
	}
	r.lastZxid = max(r.lastZxid, h.Zxid)
	if h.Err == jute.ErrOK && rsp != nil {
		if err := jute.Unmarshal(body, rsp); err != nil {
			r.t.Fatalf("%v: decoding reply: %v", op, err)
		}
	}
	return h.Err
}

// expectClosed waits for the server to close the connection, reading and
// discarding what comes before; it fails if nothing closes it in time.
func (r *e2eRaw) expectClosed(what string) {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(e2eWait))
	buf := make([]byte, 4096)
	for {
		_, err := r.c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("%s: connection still open after %v", what, e2eWait)
		}
		return // EOF or reset: closed
	}
}

// e2eFourLetter sends a four-letter word and reads until the server closes.
func e2eFourLetter(t testing.TB, addr, word string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(e2eWait))
	if _, err := c.Write([]byte(word)); err != nil {
		t.Fatalf("%s: write: %v", word, err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: read (server did not close the connection?): %v; got %q", word, err, out)
	}
	return string(out)
}

var e2eWorld = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

func e2eHex(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }
