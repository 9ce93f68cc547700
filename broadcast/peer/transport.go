package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"zkd/broadcast/zab"
)

const (
	// handshakesPendingMax bounds the inbound connections that have not
	// finished their handshake; more are closed at once.
	handshakesPendingMax = 64
	// readBufBytes is each inbound connection's read buffer.
	readBufBytes = 64 << 10
	// acceptRetry is the pause after an Accept error other than a closed
	// listener (out of file descriptors, for instance).
	acceptRetry = 50 * time.Millisecond
)

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// Transport carries zab.Messages between this server and its peers. See
// the package documentation for the contract.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	peers map[zab.ID]*peer // fixed by New
	recv  chan zab.Message

	ctx    context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the transport started

	handshakeSlots chan struct{}
	recvClose      sync.Once

	unroutable atomic.Uint64
	rejected   atomic.Uint64
	misrouted  atomic.Uint64

	mu struct {
		sync.Mutex
		state   int
		ln      net.Listener
		conns   map[net.Conn]struct{} // every accepted connection still open
		inbound map[zab.ID]*inConn    // the one receiving connection per peer
	}
}

// PeerStats are the counters of one peer's links.
type PeerStats struct {
	// Connected: an outbound link is up; messages sent now go on it.
	Connected bool
	// InboundConnected: the peer's link to us is up.
	InboundConnected bool
	// Queued is the number of messages waiting to be written.
	Queued int
	// Sent counts messages written whole to the socket (they may still be
	// lost if the link breaks before the peer reads them).
	Sent uint64
	// Received counts messages from this peer handed to Recv.
	Received uint64
	// Dropped counts messages this transport gave up before writing them
	// whole: a full queue, a message over MaxFrameBytes, a batch whose
	// write failed, a queue discarded at Stop.
	Dropped uint64
	// Reconnects counts outbound links established after the first.
	Reconnects uint64
}

// Stats are the transport's counters.
type Stats struct {
	Peers map[zab.ID]PeerStats
	// Unroutable counts messages given to Send for an unknown server or
	// with From not this server's id.
	Unroutable uint64
	// Rejected counts inbound connections closed for a bad handshake, a
	// bad frame or a full handshake backlog.
	Rejected uint64
	// Misrouted counts received messages dropped because From or To did
	// not match their connection's handshake.
	Misrouted uint64
}

// New checks cfg (after WithDefaults) and returns a stopped transport.
func New(cfg Config) (*Transport, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Peers = maps.Clone(cfg.Peers)
	t := &Transport{
		cfg:            cfg,
		log:            cfg.Logger.With("self", cfg.ID),
		peers:          make(map[zab.ID]*peer, len(cfg.Peers)),
		recv:           make(chan zab.Message, cfg.RecvQueueMax),
		handshakeSlots: make(chan struct{}, handshakesPendingMax),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.conns = make(map[net.Conn]struct{})
	t.mu.inbound = make(map[zab.ID]*inConn)
	for id, addr := range cfg.Peers {
		t.peers[id] = &peer{t: t, id: id, addr: addr, wake: make(chan struct{}, 1),
			log: t.log.With("peer", id, "addr", addr)}
	}
	return t, nil
}

// Start listens on Config.Listen and starts dialing every peer. A listen
// error is returned and leaves the transport as it was.
func (t *Transport) Start() error {
	if err := t.checkState(); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(t.ctx, "tcp", t.cfg.Listen)
	if err != nil {
		return fmt.Errorf("peer: listen on %s: %w", t.cfg.Listen, err)
	}
	if err := t.startWith(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

func (t *Transport) checkState() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stateErrLocked()
}

// stateErrLocked says why the transport cannot start: already started or
// stopped. t.mu is held.
func (t *Transport) stateErrLocked() error {
	switch t.mu.state {
	case stateStarted:
		return ErrStarted
	case stateStopped:
		return ErrStopped
	}
	return nil
}

// startWith starts the transport on a listener the caller opened (tests
// open theirs first to learn every port before any transport exists).
func (t *Transport) startWith(ln net.Listener) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.stateErrLocked(); err != nil {
		return err
	}
	t.mu.state = stateStarted
	t.mu.ln = ln
	t.wg.Add(1 + len(t.peers))
	go t.acceptLoop(ln)
	for _, p := range t.peers {
		go p.run()
	}
	t.log.Info("peer transport started", "listen", ln.Addr().String(), "peers", len(t.peers))
	return nil
}

// Addr is the address the transport listens on, or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.ln == nil {
		return nil
	}
	return t.mu.ln.Addr()
}

// Send queues m for the server m.To and returns at once; it never blocks
// on the network. m.From must be this server's id. The message's slices
// (Entries, Data, Zxids, Snapshot) are read later by the writer: the
// caller must not modify them after Send.
//
// When the peer's queue is full, m and everything queued for that peer are
// dropped and counted, and the link is broken: closed now, and redialed.
// Dropping only m would leave a silent gap inside one connection (the
// peer would see m-1 then m+1 on the same link), which Zab's FIFO-link
// assumption does not allow; a break is what the core tolerates and
// recovers from. The queued messages go too because they are the oldest,
// the peer is not keeping up, and after the break it resynchronises
// anyway; keeping them would need a marker to break the link between
// them and the messages after the gap.
func (t *Transport) Send(m zab.Message) {
	p := t.peers[m.To]
	if p == nil || m.From != t.cfg.ID {
		t.unroutable.Add(1)
		t.log.Debug("unroutable message dropped", "msg", m.Type, "from", m.From, "to", m.To)
		return
	}
	p.enqueue(m)
}

// Recv returns the channel of messages from all peers, each link's in the
// order it sent them. Stop closes it. The caller must drain it promptly: a
// connection whose message cannot be delivered stops reading, TCP pushes
// back, and the sender's WriteTimeout eventually breaks the link.
func (t *Transport) Recv() <-chan zab.Message { return t.recv }

// Stop closes the listener and every connection, drops what is queued,
// waits for every goroutine of the transport to end and closes Recv's
// channel. Every goroutine is then at a point that a closed connection or
// the cancelled context releases, so Stop takes about one scheduling round,
// not a timeout. Stop may be called more than once.
func (t *Transport) Stop() {
	t.mu.Lock()
	wasStarted := t.mu.state == stateStarted
	t.mu.state = stateStopped
	ln := t.mu.ln
	conns := make([]net.Conn, 0, len(t.mu.conns))
	for c := range t.mu.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	t.cancel()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	for _, p := range t.peers {
		p.stop()
	}
	t.wg.Wait()
	t.recvClose.Do(func() { close(t.recv) })
	if wasStarted {
		t.log.Info("peer transport stopped")
	}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	s := Stats{
		Peers:      make(map[zab.ID]PeerStats, len(t.peers)),
		Unroutable: t.unroutable.Load(),
		Rejected:   t.rejected.Load(),
		Misrouted:  t.misrouted.Load(),
	}
	t.mu.Lock()
	inbound := make(map[zab.ID]bool, len(t.mu.inbound))
	for id := range t.mu.inbound {
		inbound[id] = true
	}
	t.mu.Unlock()
	for id, p := range t.peers {
		ps := p.stats()
		ps.InboundConnected = inbound[id]
		ps.Received = p.received.Load()
		s.Peers[id] = ps
	}
	return s
}

// sleep waits d or until Stop; it reports whether the transport still runs.
func (t *Transport) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *Transport) stopping() bool { return t.ctx.Err() != nil }

// isClosed reports whether err comes from a connection or listener that
// was closed on purpose (by Stop, a replacement or a broken link).
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
