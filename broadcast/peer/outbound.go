package peer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"zkd/broadcast/zab"
)

const (
	// writeBatchBytes: the writer flushes its buffer when it reaches this
	// size, so a long queue of small messages becomes few writes and the
	// buffer stays small unless one message is big.
	writeBatchBytes = 256 << 10
	// writeChunkBytes bounds one Write call; each gets a fresh deadline, so
	// WriteTimeout measures a lack of progress, not the size of a SNAP.
	writeChunkBytes = 1 << 20
	// writeBufKeepBytes: a bigger write buffer is released after use. It
	// holds a full proposal (zab's readyBytesMax, 4 MiB, and framing), so
	// a loaded link reuses one buffer instead of regrowing it per write.
	writeBufKeepBytes = 5 << 20
	// backoffShiftMax caps the doubling of the dial backoff.
	backoffShiftMax = 30
)

// peer is the sending side of the link to one server, and the counters of
// both sides. One goroutine (run) dials, handshakes and writes; a second
// one per connection (watch) notices when the peer closes it.
type peer struct {
	t    *Transport
	id   zab.ID
	addr string
	log  *slog.Logger
	wake chan struct{} // capacity 1: "the queue may have messages"

	received atomic.Uint64 // messages from this peer given to Recv

	buf []byte // the writer's encoding buffer, reused; only run touches it

	mu struct {
		sync.Mutex
		stopped bool
		queue   []zab.Message
		// conn is the connection messages go on, nil while the link is
		// down. A full queue sets it to nil and closes it; the writer
		// stops using its connection as soon as it is no longer conn, so
		// no message queued after a drop goes on a connection that carried
		// messages from before it.
		conn       net.Conn
		sent       uint64
		dropped    uint64
		connects   uint64
		reconnects uint64
	}
}

func (p *peer) enqueue(m zab.Message) {
	p.mu.Lock()
	if p.mu.stopped {
		p.mu.dropped++
		p.mu.Unlock()
		return
	}
	if len(p.mu.queue) >= p.t.cfg.SendQueueMax {
		n := len(p.mu.queue) + 1
		clear(p.mu.queue)
		p.mu.queue = p.mu.queue[:0]
		p.mu.dropped += uint64(n)
		c := p.mu.conn
		p.mu.conn = nil
		p.mu.Unlock()
		if c != nil {
			c.Close()
		}
		p.log.Warn("send queue full: messages dropped and link broken", "dropped", n)
		return
	}
	p.mu.queue = append(p.mu.queue, m)
	p.mu.Unlock()
	p.signal()
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) stop() {
	p.mu.Lock()
	p.mu.stopped = true
	p.mu.dropped += uint64(len(p.mu.queue))
	clear(p.mu.queue)
	p.mu.queue = p.mu.queue[:0]
	c := p.mu.conn
	p.mu.conn = nil
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (p *peer) stats() PeerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStats{
		Connected:  p.mu.conn != nil,
		Queued:     len(p.mu.queue),
		Sent:       p.mu.sent,
		Dropped:    p.mu.dropped,
		Reconnects: p.mu.reconnects,
	}
}

// run dials the peer, sends on the link until it breaks, and redials with
// backoff, until Stop.
func (p *peer) run() {
	defer p.t.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(p.t.cfg.ID)<<32^uint64(p.id), uint64(time.Now().UnixNano())))
	failures := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !p.t.sleep(p.backoff(rng, failures)) {
			return
		}
		c, err := p.dial()
		if err != nil {
			if p.t.stopping() {
				return
			}
			// The first failure after a link was up is news; the rest of
			// a long outage is not.
			level := slog.LevelDebug
			if failures == 0 {
				level = slog.LevelInfo
			}
			p.log.Log(p.t.ctx, level, "dial failed", "err", err, "failures", failures+1)
			failures = min(failures+1, backoffShiftMax)
			continue
		}
		failures = 0
		p.serve(c)
		if p.t.stopping() {
			return
		}
	}
}

// backoff is the wait before a dial after failures failed ones: the
// minimum doubled per failure up to the maximum, then a uniform draw from
// its upper half, so servers that lost each other together do not redial
// in lockstep.
func (p *peer) backoff(rng *rand.Rand, failures int) time.Duration {
	d, hi := p.t.cfg.DialBackoffMin, p.t.cfg.DialBackoffMax
	for i := 0; i < failures && d < hi; i++ {
		if d > hi/2 {
			d = hi // and doubling cannot overflow
			break
		}
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

// dial connects and exchanges handshakes; the connection it returns is
// accepted by the peer.
func (p *peer) dial() (net.Conn, error) {
	t := p.t
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	c, err := d.DialContext(t.ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	// Stop must not wait for the handshake deadline.
	unhook := context.AfterFunc(t.ctx, func() { c.Close() })
	err = p.handshake(c)
	if !unhook() {
		err = context.Canceled
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (p *peer) handshake(c net.Conn) error {
	t := p.t
	if err := c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return err
	}
	hello := appendHandshake(make([]byte, 0, handshakeBytes), handshake{Version: protocolVersion, From: t.cfg.ID, To: p.id})
	if _, err := c.Write(hello); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	var b [handshakeBytes]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("handshake reply: %w", err)
	}
	h, err := decodeHandshake(b[:])
	if err == nil {
		err = checkReply(h, t.cfg.ID, p.id)
	}
	if err != nil {
		return fmt.Errorf("handshake reply: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

// serve sends queued messages on c until the link breaks or Stop.
func (p *peer) serve(c net.Conn) {
	t := p.t
	p.mu.Lock()
	if p.mu.stopped {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.conn = c
	p.mu.connects++
	if p.mu.connects > 1 {
		p.mu.reconnects++
	}
	p.mu.Unlock()
	p.log.Info("link up")

	// The acceptor never writes after its handshake, so a read returns
	// only when the connection ends: the peer closed it, or we did.
	broken := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(broken)
		var b [1]byte
		c.Read(b[:])
		c.Close()
	}()

	p.signal() // messages may have queued while the link was down
	var batch []zab.Message
	reason := "stopped"
loop:
	for {
		select {
		case <-p.wake:
		case <-broken:
			reason = "closed by peer"
			break loop
		case <-t.ctx.Done():
			break loop
		}
		p.mu.Lock()
		if p.mu.conn != c {
			p.mu.Unlock()
			reason = "broken after a drop"
			break loop
		}
		batch, p.mu.queue = p.mu.queue, batch[:0]
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		n, err := p.write(c, batch)
		clear(batch)
		p.mu.Lock()
		p.mu.sent += uint64(n)
		p.mu.dropped += uint64(len(batch) - n)
		p.mu.Unlock()
		if err != nil {
			reason = err.Error()
			break loop
		}
	}
	p.mu.Lock()
	if p.mu.conn == c {
		p.mu.conn = nil
	}
	p.mu.Unlock()
	c.Close()
	<-broken
	if !t.stopping() {
		p.log.Info("link down", "reason", reason)
	}
}

// write encodes batch into frames and writes them in as few calls as
// writeBatchBytes allows. It returns how many messages were written whole
// (a prefix of batch); an error means the link must break.
func (p *peer) write(c net.Conn, batch []zab.Message) (int, error) {
	defer func() {
		if cap(p.buf) > writeBufKeepBytes {
			p.buf = nil
		}
	}()
	buf := p.buf[:0]
	written, encoded := 0, 0
	var err error
	for i := range batch {
		buf, err = appendFrame(buf, &batch[i], p.t.cfg.MaxFrameBytes)
		if err != nil {
			// Not sendable; the messages after it must not follow it on
			// this link (a silent gap), so the link breaks after what was
			// encoded before it.
			p.log.Error("message dropped", "err", err)
			break
		}
		encoded++
		if len(buf) >= writeBatchBytes {
			if werr := p.flush(c, buf); werr != nil {
				p.buf = buf
				return written, werr
			}
			written, buf = encoded, buf[:0]
		}
	}
	p.buf = buf
	if werr := p.flush(c, buf); werr != nil {
		return written, werr
	}
	return encoded, err
}

func (p *peer) flush(c net.Conn, b []byte) error {
	for len(b) > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout)); err != nil {
			return err
		}
		n, err := c.Write(b[:min(len(b), writeChunkBytes)])
		b = b[n:]
		if err != nil {
			return err
		}
	}
	return nil
}
