package peer

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"zkd/broadcast/zab"
)

// inConn is the receiving connection from one peer.
type inConn struct {
	c    net.Conn
	kill chan struct{} // closed when a newer connection from the peer replaces it
	done chan struct{} // closed when its reader delivers no more
}

func (t *Transport) acceptLoop(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if isClosed(err) || t.stopping() {
				return
			}
			t.log.Warn("accept failed", "err", err)
			if !t.sleep(acceptRetry) {
				return
			}
			continue
		}
		select {
		case t.handshakeSlots <- struct{}{}:
		default:
			t.rejected.Add(1)
			t.log.Warn("inbound connection refused: too many handshakes pending", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		if !t.track(c) {
			<-t.handshakeSlots
			c.Close()
			return
		}
		t.wg.Add(1)
		go t.serveInbound(c)
	}
}

// track records an accepted connection so Stop can close it; it fails
// once Stop has begun.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.state != stateStarted {
		return false
	}
	t.mu.conns[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
	c.Close()
}

// serveInbound checks a connection's handshake and then delivers its
// messages to Recv until it ends.
func (t *Transport) serveInbound(c net.Conn) {
	defer t.wg.Done()
	defer t.untrack(c)
	log := t.log.With("remote", c.RemoteAddr().String())

	h, err := t.readHello(c)
	<-t.handshakeSlots
	if err != nil {
		t.rejected.Add(1)
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) || isClosed(err) {
			level = slog.LevelDebug // a port probe, or Stop
		}
		log.Log(t.ctx, level, "inbound connection rejected", "err", err)
		return
	}
	p := t.peers[h.From]
	log = log.With("peer", h.From)

	ic := &inConn{c: c, kill: make(chan struct{}), done: make(chan struct{})}
	defer close(ic.done)
	if !t.register(p, ic, log) {
		return
	}
	defer t.unregister(p, ic)

	reply := appendHandshake(make([]byte, 0, handshakeBytes), handshake{Version: protocolVersion, From: t.cfg.ID, To: h.From})
	if _, err := c.Write(reply); err != nil {
		log.Info("handshake reply failed", "err", err)
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return
	}
	log.Info("inbound link up")
	reason := t.readLoop(c, ic, p, log)
	if !t.stopping() {
		log.Info("inbound link down", "reason", reason)
	}
}

// readHello reads and checks a dialer's handshake, within HandshakeTimeout.
func (t *Transport) readHello(c net.Conn) (handshake, error) {
	if err := c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return handshake{}, err
	}
	var b [handshakeBytes]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return handshake{}, err
	}
	h, err := decodeHandshake(b[:])
	if err != nil {
		return handshake{}, err
	}
	if err := checkHello(h, t.cfg.ID, func(id zab.ID) bool { return t.peers[id] != nil }); err != nil {
		return handshake{}, err
	}
	return h, nil
}

// register makes ic the peer's receiving connection. A connection already
// there is closed, and register waits until its reader has stopped
// delivering: the peer dials a new connection only after giving up the
// old one, so everything on the new one was sent after everything on the
// old one, and waiting keeps Recv in that order. Newest wins, rather than
// refusing the newcomer, because the old one may be half-open (the peer
// crashed or its side timed out) and would otherwise lock the peer out
// until TCP noticed. It fails when Stop begins.
func (t *Transport) register(p *peer, ic *inConn, log *slog.Logger) bool {
	t.mu.Lock()
	if t.mu.state != stateStarted {
		t.mu.Unlock()
		return false
	}
	old := t.mu.inbound[p.id]
	t.mu.inbound[p.id] = ic
	t.mu.Unlock()
	if old == nil {
		return true
	}
	log.Info("new connection replaces the old one from the same peer", "old", old.c.RemoteAddr().String())
	close(old.kill)
	old.c.Close()
	select {
	case <-old.done:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *Transport) unregister(p *peer, ic *inConn) {
	t.mu.Lock()
	if t.mu.inbound[p.id] == ic {
		delete(t.mu.inbound, p.id)
	}
	t.mu.Unlock()
}

// readLoop delivers c's messages until the connection ends, and says why.
func (t *Transport) readLoop(c net.Conn, ic *inConn, p *peer, log *slog.Logger) string {
	fr := frameReader{r: bufio.NewReaderSize(c, readBufBytes), maxBytes: t.cfg.MaxFrameBytes}
	misrouted := 0
	for {
		body, err := fr.next()
		if err != nil {
			if errors.Is(err, errFrameSize) {
				t.rejected.Add(1)
				log.Warn("connection closed: bad frame", "err", err)
			}
			return err.Error()
		}
		m, err := zab.DecodeMessage(body) // copies: m shares nothing with body
		fr.release()
		if err != nil {
			t.rejected.Add(1)
			log.Warn("connection closed: undecodable frame", "err", err)
			return err.Error()
		}
		if m.From != p.id || m.To != t.cfg.ID {
			t.misrouted.Add(1)
			misrouted++
			level := slog.LevelDebug
			if misrouted == 1 {
				level = slog.LevelWarn // once per connection: a peer could flood the log
			}
			log.Log(t.ctx, level, "message dropped: from/to do not match the link", "msg", m.String())
			continue
		}
		select {
		case t.recv <- m:
			p.received.Add(1)
		case <-ic.kill:
			return "replaced"
		case <-t.ctx.Done():
			return "stopped"
		}
	}
}
