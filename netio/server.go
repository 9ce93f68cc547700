package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"zkd/broadcast"
	"zkd/netio/jute"
	"zkd/tree"
)

// Server is a standalone zkd server: the gnet front end, the tree, and the
// request pipeline.
type Server struct {
	gnet.BuiltinEventEngine

	cfg Config
	log *slog.Logger

	// treeMu guards tree: reads share it, Apply holds it alone.
	treeMu sync.RWMutex
	tree   *tree.Tree

	// pipeline commits writes: the standalone broadcast.Pipeline, or the
	// ensemble's broadcast.Ensemble (ens, then also set).
	pipeline committer
	ens      *broadcast.Ensemble
	roleMu   sync.Mutex
	role     broadcast.Role
	sessions *sessionTable

	connsMu sync.RWMutex
	conns   map[tree.WatcherID]*conn
	perIP   map[string]int
	nextID  atomic.Uint64

	engine   gnet.Engine
	booted   chan struct{}
	stopped  chan struct{}
	bg       sync.WaitGroup
	stopOnce sync.Once
	runErr   error

	evBuf   []tree.Event
	clock   *coarseClock
	started time.Time
	stats   stats
}

// stats are the counters srvr, stat and mntr report.
type stats struct {
	received atomic.Uint64
	sent     atomic.Uint64
	latMu    sync.Mutex
	latMin   int64
	latMax   int64
	latSum   int64
	latCount int64
}

func (s *stats) latency(d time.Duration) {
	ms := d.Milliseconds()
	s.latMu.Lock()
	if s.latCount == 0 || ms < s.latMin {
		s.latMin = ms
	}
	if ms > s.latMax {
		s.latMax = ms
	}
	s.latSum += ms
	s.latCount++
	s.latMu.Unlock()
}

// committer takes writes to be committed and applied (Server.Apply).
type committer interface {
	Submit(r *broadcast.Request) error
	Stop()
}

// NewServer builds a standalone server over t (a fresh tree.New() for a
// new database) committing through log.
func NewServer(cfg Config, t *tree.Tree, log broadcast.Log, logger *slog.Logger) *Server {
	srv := newServer(cfg, t, logger)
	prep := tree.NewPreparer(t, t.LastZxid())
	prep.ExtendedTypes = srv.cfg.ExtendedTypes
	srv.pipeline = broadcast.NewPipeline(prep, log, srv, srv.treeMu.RLocker())
	return srv
}

// NewEnsembleServer builds a server of an ensemble over t (restored by
// the caller, nothing past what the ensemble committed), committing
// through ens; Start starts ens.
func NewEnsembleServer(cfg Config, t *tree.Tree, ens *broadcast.Ensemble, logger *slog.Logger) *Server {
	srv := newServer(cfg, t, logger)
	srv.pipeline, srv.ens = ens, ens
	return srv
}

func newServer(cfg Config, t *tree.Tree, logger *slog.Logger) *Server {
	cfg = cfg.WithDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	srv := &Server{
		cfg:      cfg,
		log:      logger,
		tree:     t,
		sessions: newSessionTable(cfg.ServerID, time.Now()),
		conns:    make(map[tree.WatcherID]*conn),
		perIP:    make(map[string]int),
		booted:   make(chan struct{}),
		stopped:  make(chan struct{}),
		started:  time.Now(),
		clock:    newCoarseClock(),
	}
	// Sessions that were live in the tree (a restored database) get a full
	// timeout to reconnect before they expire.
	for id, timeout := range t.Sessions() {
		s := newSession(id, timeout)
		s.created.Store(true)
		s.touch(srv.clock.UnixNano())
		srv.sessions.put(s)
	}
	return srv
}

// Start listens and serves in the background; it returns once the
// listener is up, or with the error that kept it from coming up.
func (srv *Server) Start() error {
	if _, _, err := net.SplitHostPort(srv.cfg.Addr); err != nil {
		return fmt.Errorf("netio: bad listen address %q: %w", srv.cfg.Addr, err)
	}
	go srv.clock.run()
	if srv.ens != nil {
		if err := srv.ens.Start(srv, srv.tree); err != nil {
			srv.clock.halt()
			return fmt.Errorf("netio: ensemble: %w", err)
		}
	} else {
		go srv.pipeline.(*broadcast.Pipeline).Run()
	}
	errc := make(chan error, 1)
	go func() {
		loops := srv.cfg.EventLoops
		opts := []gnet.Option{
			gnet.WithMulticore(loops == 0),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReusePort(false),
			gnet.WithReuseAddr(true),
			gnet.WithLogger(gnetLogger{srv.log}),
		}
		if loops > 0 {
			opts = append(opts, gnet.WithNumEventLoop(loops))
		}
		err := gnet.Run(srv, "tcp://"+srv.cfg.Addr, opts...)
		errc <- err
	}()
	select {
	case <-srv.booted:
	case err := <-errc:
		srv.pipeline.Stop()
		srv.clock.halt()
		if err == nil {
			err = errors.New("netio: server stopped before it started")
		}
		return fmt.Errorf("netio: listen on %s: %w", srv.cfg.Addr, err)
	}
	go func() {
		srv.runErr = <-errc
		close(srv.stopped)
	}()
	srv.bg.Add(2)
	go srv.expireSessions()
	go srv.reapContainers()
	srv.log.Info("serving", "addr", srv.cfg.Addr, "tickTime", srv.cfg.TickTime,
		"minSessionTimeout", srv.cfg.MinSessionTimeout, "maxSessionTimeout", srv.cfg.MaxSessionTimeout)
	return nil
}

// LastZxid is the zxid of the last transaction applied to the tree.
func (srv *Server) LastZxid() int64 {
	srv.treeMu.RLock()
	defer srv.treeMu.RUnlock()
	return srv.tree.LastZxid()
}

// WithTreeReadLock runs fn while holding the tree's read lock: Apply waits,
// reads go on. The snapshotter encodes a chunk of nodes under it.
func (srv *Server) WithTreeReadLock(fn func()) {
	srv.treeMu.RLock()
	defer srv.treeMu.RUnlock()
	fn()
}

// Addr is the address the server listens on.
func (srv *Server) Addr() string { return srv.cfg.Addr }

// Stop closes every connection, stops the pipeline and waits for both.
func (srv *Server) Stop() {
	srv.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.engine.Stop(ctx); err != nil {
			srv.log.Warn("stopping event loops", "err", err)
		}
		select {
		case <-srv.stopped:
		case <-ctx.Done():
		}
		srv.pipeline.Stop()
		srv.bg.Wait()
		srv.clock.halt()
	})
}

// OnBoot records the engine for Stop.
func (srv *Server) OnBoot(eng gnet.Engine) gnet.Action {
	srv.engine = eng
	close(srv.booted)
	return gnet.None
}

// OnOpen registers a connection and enforces maxClientCnxns.
func (srv *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := &conn{id: tree.WatcherID(srv.nextID.Add(1)), gc: gc, srv: srv, opened: time.Now()}
	c.mu.out = bytebufferpool.Get()
	if addr, ok := gc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote, c.peer = addr.IP.String(), addr.String()
	}
	srv.connsMu.Lock()
	if srv.cfg.MaxClientCnxns > 0 && srv.perIP[c.remote] >= srv.cfg.MaxClientCnxns {
		srv.connsMu.Unlock()
		srv.log.Warn("too many connections from client, closing", "client", c.remote, "max", srv.cfg.MaxClientCnxns)
		return nil, gnet.Close
	}
	srv.perIP[c.remote]++
	srv.conns[c.id] = c
	srv.connsMu.Unlock()
	gc.SetContext(c)
	return nil, gnet.None
}

// OnClose forgets a connection: its watches go, its session stays until it
// expires or the client reconnects.
func (srv *Server) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	srv.log.Debug("connection closed", "client", c.remote, "session", sessionHex(c.sessionID()), "err", err)
	c.mu.Lock()
	c.mu.closed = true
	bytebufferpool.Put(c.mu.out)
	c.mu.out = &bytebufferpool.ByteBuffer{}
	c.mu.deferred = nil
	c.mu.Unlock()
	srv.connsMu.Lock()
	delete(srv.conns, c.id)
	if srv.perIP[c.remote]--; srv.perIP[c.remote] <= 0 {
		delete(srv.perIP, c.remote)
	}
	srv.connsMu.Unlock()
	srv.watches().RemoveWatcher(c.id)
	if c.sess != nil {
		c.sess.clearOwner(c)
	}
	return gnet.None
}

// OnTraffic flushes queued output, then handles every whole frame.
func (srv *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		srv.log.Debug("traffic on a connection without context")
		return gnet.Close
	}
	if c.flush() {
		return gnet.Close
	}
	for {
		if !c.handshaken {
			if word, ok := c.peekFourLetterWord(); ok {
				srv.fourLetter(c, word)
				break
			}
		}
		if c.paused() {
			break
		}
		frame, size, bad := c.readFrame()
		if bad != "" {
			srv.log.Warn("closing connection: "+bad, "client", c.remote, "session", sessionHex(c.sessionID()))
			return gnet.Close
		}
		if frame == nil {
			break
		}
		reason := srv.handleFrame(c, frame)
		if reason == revalidating {
			break // the connect frame stays buffered until the leader answers
		}
		if reason != "" {
			srv.log.Warn("closing connection: "+reason, "client", c.remote, "session", sessionHex(c.sessionID()))
			return gnet.Close
		}
		_, _ = gc.Discard(size)
	}
	if c.flush() {
		return gnet.Close
	}
	return gnet.None
}

// paused reports whether the connection has too many writes in flight to
// take more frames; Apply wakes it when replies catch up.
func (c *conn) paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.submitted-c.mu.completed >= outstandingWritesMax || len(c.mu.deferred) >= deferredMax
}

func (srv *Server) connByWatcher(id tree.WatcherID) *conn {
	srv.connsMu.RLock()
	defer srv.connsMu.RUnlock()
	return srv.conns[id]
}

// handleFrame handles one frame; a non-empty result closes the connection.
func (srv *Server) handleFrame(c *conn, frame []byte) string {
	srv.stats.received.Add(1)
	c.received.Add(1)
	if !c.handshaken {
		return srv.handleConnect(c, frame)
	}
	c.sess.touch(srv.clock.UnixNano())
	r := &c.reader
	r.Reset(frame)
	var h jute.RequestHeader
	h.Decode(r)
	if r.Err() != nil {
		return "malformed request header"
	}
	return srv.dispatch(c, h, r)
}

// handleConnect answers the ConnectRequest that opens every connection.
func (srv *Server) handleConnect(c *conn, frame []byte) string {
	var req jute.ConnectRequest
	if err := jute.Unmarshal(frame, &req); err != nil {
		return "malformed connect request"
	}
	if !srv.serving() {
		// As ZooKeeper when it has no quorum: the client tries another.
		return "not serving: no established leader"
	}
	srv.treeMu.RLock()
	last := srv.tree.LastZxid()
	srv.treeMu.RUnlock()
	if req.LastZxidSeen > last && srv.ens != nil && !c.revalidated {
		// This server may just be behind the leader: catch up first.
		return srv.revalidate(c, req.SessionID)
	}
	if req.LastZxidSeen > last {
		srv.log.Warn("refusing session: client has seen a newer zxid than this server",
			"client", c.remote, "clientZxid", req.LastZxidSeen, "serverZxid", last)
		return "client zxid ahead of server"
	}
	timeout := srv.negotiateTimeout(req.TimeOut)
	if req.SessionID == 0 {
		c.handshaken = true
		s := newSession(srv.sessions.newID(), timeout)
		c.addAuth(jute.ID{Scheme: "ip", ID: c.remote})
		s.touch(srv.clock.UnixNano())
		s.setOwner(c)
		srv.sessions.put(s)
		c.setSession(s)
		c.mu.Lock()
		c.mu.submitted++
		c.mu.Unlock()
		err := srv.pipeline.Submit(&broadcast.Request{
			Request: tree.Request{Session: s.id, Op: jute.OpCreateSession, Timeout: timeout},
			Origin:  c, Now: srv.clock.UnixMilli(),
		})
		if err != nil {
			return "server shutting down"
		}
		return ""
	}
	s := srv.sessions.get(req.SessionID)
	if s == nil && srv.ens != nil && !c.revalidated {
		return srv.revalidate(c, req.SessionID)
	}
	valid := s != nil && !s.closing.Load() && s.created.Load() &&
		string(req.Passwd) == string(SessionPassword(req.SessionID))
	if !valid {
		srv.log.Info("refusing reconnect: session expired or wrong password",
			"client", c.remote, "session", sessionHex(req.SessionID))
		c.handshaken = true
		c.setSession(&session{id: req.SessionID})
		c.mu.Lock()
		c.connectReplyLocked(0, 0, make([]byte, 16))
		c.mu.closeAfter = true
		c.mu.Unlock()
		return ""
	}
	c.handshaken = true
	s.timeoutMs.Store(timeout)
	s.touch(srv.clock.UnixNano())
	c.setSession(s)
	if old := s.setOwner(c); old != nil && old != c {
		_ = old.gc.Close()
	}
	c.addAuth(jute.ID{Scheme: "ip", ID: c.remote})
	c.mu.Lock()
	c.connectReplyLocked(timeout, s.id, SessionPassword(s.id))
	c.mu.Unlock()
	return ""
}

// connectReplyLocked queues a ConnectResponse (it has no reply header).
func (c *conn) connectReplyLocked(timeout int32, id int64, passwd []byte) {
	w := jute.Writer{B: c.mu.out.B}
	at := w.BeginFrame()
	rsp := jute.ConnectResponse{TimeOut: timeout, SessionID: id, Passwd: passwd}
	rsp.Encode(&w)
	w.EndFrame(at)
	c.mu.out.B = w.B
}

func (srv *Server) negotiateTimeout(askedMs int32) int32 {
	lo := int32(srv.cfg.MinSessionTimeout.Milliseconds())
	hi := int32(srv.cfg.MaxSessionTimeout.Milliseconds())
	if askedMs < lo {
		return lo
	}
	if askedMs > hi {
		return hi
	}
	return askedMs
}

// expireSessions closes sessions whose clients went quiet for longer than
// their timeout.
func (srv *Server) expireSessions() {
	defer srv.bg.Done()
	every := srv.cfg.TickTime / 4
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-srv.stopped:
			return
		case now := <-t.C:
			if !srv.leading() {
				continue // the leader expires the ensemble's sessions
			}
			for _, s := range srv.sessions.expired(now) {
				srv.log.Info("expiring session", "session", sessionHex(s.id), "timeoutMs", s.timeoutMs.Load())
				_ = srv.pipeline.Submit(&broadcast.Request{
					Request: tree.Request{Session: s.id, Op: jute.OpCloseSession},
					Now:     now.UnixMilli(),
				})
			}
		}
	}
}

// reapContainers deletes empty containers that once had children and TTL
// nodes without children whose TTL passed since their last change, as
// ZooKeeper's ContainerManager does.
func (srv *Server) reapContainers() {
	defer srv.bg.Done()
	t := time.NewTicker(srv.cfg.ContainerCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-srv.stopped:
			return
		case now := <-t.C:
			if !srv.leading() {
				continue
			}
			for _, path := range srv.reapCandidates(now) {
				_ = srv.pipeline.Submit(&broadcast.Request{
					Request: tree.Request{Op: jute.OpDeleteContainer, Delete: &jute.PathVersionRequest{Path: path, Version: -1}},
					Now:     now.UnixMilli(),
				})
			}
		}
	}
}

func (srv *Server) reapCandidates(now time.Time) []string {
	srv.treeMu.RLock()
	defer srv.treeMu.RUnlock()
	var out []string
	for _, p := range srv.tree.Containers() {
		if n, ok := srv.tree.Get(p); ok && n.NumChildren() == 0 && n.Stat().Cversion > 0 {
			out = append(out, p)
		}
	}
	for _, p := range srv.tree.TTLNodes() {
		n, ok := srv.tree.Get(p)
		if !ok || n.NumChildren() > 0 {
			continue
		}
		if ttl := jute.TTLOf(n.Owner()); ttl > 0 && now.UnixMilli()-n.Stat().Mtime > ttl {
			out = append(out, p)
		}
	}
	return out
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "from", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...), "from", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "from", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "from", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "from", "gnet") }

func zxidHex(z int64) string { return "0x" + strconv.FormatInt(z, 16) }
