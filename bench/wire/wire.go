package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"zkd/netio/jute"
)

// maxFrame bounds what Recv accepts from a server.
const maxFrame = 64 << 20

// ErrClosed is returned after the server closed the connection.
var ErrClosed = errors.New("wire: connection closed")

// Conn is one client connection with a session.
type Conn struct {
	nc   net.Conn
	cnt  *counter // bytes through nc, read by other goroutines
	br   *bufio.Reader
	bw   *bufio.Writer
	w    jute.Writer
	rb   []byte // frame being read; reused
	r    jute.Reader
	head [4]byte // frame length being read; a field so it does not escape

	// LastSentBytes and LastRecvBytes are the sizes on the wire (length
	// prefix included) of the last frame queued by Send and read by Recv.
	LastSentBytes int
	LastRecvBytes int

	SessionID int64
	Passwd    []byte
	Timeout   int32 // negotiated, ms
	xid       int32

	// Events holds watch events received by Call, in arrival order.
	Events []jute.WatcherEvent
	// Timeline records, when non-nil, "reply xid" and "event" marks in
	// arrival order (for ordering checks).
	Timeline *[]string
}

// Options for Dial.
type Options struct {
	Timeout      time.Duration // session timeout asked for; default 10 s
	DialTimeout  time.Duration // default 5 s
	SessionID    int64         // resume this session
	Passwd       []byte
	LastZxidSeen int64
}

// Dial connects and opens (or resumes) a session.
func Dial(addr string, o Options) (*Conn, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	nc, err := net.DialTimeout("tcp", addr, o.DialTimeout)
	if err != nil {
		return nil, err
	}
	cnt := &counter{Conn: nc}
	c := &Conn{nc: nc, cnt: cnt, br: bufio.NewReaderSize(cnt, 64<<10), bw: bufio.NewWriterSize(cnt, 64<<10)}
	passwd := o.Passwd
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := jute.ConnectRequest{
		LastZxidSeen: o.LastZxidSeen, TimeOut: int32(o.Timeout.Milliseconds()),
		SessionID: o.SessionID, Passwd: passwd,
	}
	c.w.Reset()
	at := c.w.BeginFrame()
	req.Encode(&c.w)
	c.w.EndFrame(at)
	_ = nc.SetDeadline(time.Now().Add(o.DialTimeout))
	if _, err := c.bw.Write(c.w.B); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	frame, err := c.readFrame()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("wire: connect: %w", err)
	}
	var rsp jute.ConnectResponse
	if err := jute.Unmarshal(frame, &rsp); err != nil {
		nc.Close()
		return nil, fmt.Errorf("wire: connect response: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	if rsp.TimeOut <= 0 {
		nc.Close()
		return nil, jute.ErrSessionExpired
	}
	c.SessionID, c.Passwd, c.Timeout = rsp.SessionID, rsp.Passwd, rsp.TimeOut
	return c, nil
}

// counter counts the bytes that pass through a connection. Its fields are
// atomic because a benchmark reads them from another goroutine; it costs
// one atomic add per system call, not per request.
type counter struct {
	net.Conn
	in, out atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// BytesIn and BytesOut are the bytes received and sent on the socket since
// Dial (handshake included). Safe to call from any goroutine.
func (c *Conn) BytesIn() int64  { return c.cnt.in.Load() }
func (c *Conn) BytesOut() int64 { return c.cnt.out.Load() }

// NetConn exposes the socket (for tests that cut it).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the socket without closing the session.
func (c *Conn) Close() error { return c.nc.Close() }

// CloseSession ends the session and closes the connection.
func (c *Conn) CloseSession() error {
	_, err := c.Call(jute.OpCloseSession, nil, nil)
	c.nc.Close()
	return err
}

// Send queues one request and returns its xid; Flush sends queued ones.
func (c *Conn) Send(op jute.Op, req jute.Record) (int32, error) {
	c.xid++
	xid := c.xid
	return xid, c.SendXid(xid, op, req)
}

// SendXid queues a request with a chosen xid (ping -2, auth -4, ...).
func (c *Conn) SendXid(xid int32, op jute.Op, req jute.Record) error {
	c.w.Reset()
	at := c.w.BeginFrame()
	h := jute.RequestHeader{Xid: xid, Type: op}
	h.Encode(&c.w)
	if req != nil {
		req.Encode(&c.w)
	}
	c.w.EndFrame(at)
	c.LastSentBytes = len(c.w.B)
	_, err := c.bw.Write(c.w.B)
	return err
}

// SendRaw queues raw bytes (for bad-input tests).
func (c *Conn) SendRaw(b []byte) error {
	_, err := c.bw.Write(b)
	return err
}

// Buffered is the number of received bytes not yet consumed by Recv.
func (c *Conn) Buffered() int { return c.br.Buffered() }

// Flush sends everything queued.
func (c *Conn) Flush() error { return c.bw.Flush() }

func (c *Conn) readFrame() ([]byte, error) {
	head := c.head[:]
	if _, err := io.ReadFull(c.br, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("wire: reading frame header: %w", err)
	}
	n := int(int32(binary.BigEndian.Uint32(head)))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("wire: bad frame length %d", n)
	}
	if cap(c.rb) < n {
		c.rb = make([]byte, n)
	}
	c.rb = c.rb[:n]
	if _, err := io.ReadFull(c.br, c.rb); err != nil {
		return nil, fmt.Errorf("%w: reading a %d-byte frame: %v", ErrClosed, n, err)
	}
	c.LastRecvBytes = 4 + n
	return c.rb, nil
}

// Recv reads the next reply or event. body is valid until the next Recv.
func (c *Conn) Recv() (hdr jute.ReplyHeader, body []byte, err error) {
	frame, err := c.readFrame()
	if err != nil {
		return hdr, nil, err
	}
	c.r.Reset(frame)
	hdr.Decode(&c.r)
	if c.r.Err() != nil {
		return hdr, nil, fmt.Errorf("wire: reply header: %w", c.r.Err())
	}
	return hdr, c.r.Rest(), nil
}

// SetDeadline bounds the next reads and writes.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Call sends one request and waits for its reply, decoding the body into
// resp when the reply carries no error. Watch events that arrive first are
// appended to Events. Special requests (ping, auth, setWatches) use their
// fixed xids through CallXid.
func (c *Conn) Call(op jute.Op, req, resp jute.Record) (jute.ReplyHeader, error) {
	c.xid++
	return c.CallXid(c.xid, op, req, resp)
}

// CallXid is Call with a chosen xid.
func (c *Conn) CallXid(xid int32, op jute.Op, req, resp jute.Record) (jute.ReplyHeader, error) {
	if err := c.SendXid(xid, op, req); err != nil {
		return jute.ReplyHeader{}, err
	}
	if err := c.Flush(); err != nil {
		return jute.ReplyHeader{}, err
	}
	return c.Await(xid, resp)
}

// Await reads until the reply with xid, recording events on the way.
func (c *Conn) Await(xid int32, resp jute.Record) (jute.ReplyHeader, error) {
	for {
		hdr, body, err := c.Recv()
		if err != nil {
			return hdr, err
		}
		if hdr.Xid == jute.XidWatchEvent {
			var ev jute.WatcherEvent
			if err := jute.Unmarshal(body, &ev); err != nil {
				return hdr, fmt.Errorf("wire: watch event: %w", err)
			}
			c.Events = append(c.Events, ev)
			c.mark(fmt.Sprintf("event %d %s", ev.Type, ev.Path))
			continue
		}
		c.mark(fmt.Sprintf("reply %d", hdr.Xid))
		if hdr.Xid != xid {
			return hdr, fmt.Errorf("wire: reply xid %d, want %d", hdr.Xid, xid)
		}
		if hdr.Err == jute.ErrOK && resp != nil {
			if err := jute.Unmarshal(body, resp); err != nil {
				return hdr, fmt.Errorf("wire: %T: %w", resp, err)
			}
		}
		return hdr, nil
	}
}

// WaitEvent reads until one watch event arrives (or the deadline passes).
func (c *Conn) WaitEvent(timeout time.Duration) (jute.WatcherEvent, error) {
	if len(c.Events) > 0 {
		ev := c.Events[0]
		c.Events = c.Events[1:]
		return ev, nil
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		hdr, body, err := c.Recv()
		if err != nil {
			return jute.WatcherEvent{}, err
		}
		if hdr.Xid != jute.XidWatchEvent {
			continue
		}
		var ev jute.WatcherEvent
		err = jute.Unmarshal(body, &ev)
		c.mark(fmt.Sprintf("event %d %s", ev.Type, ev.Path))
		return ev, err
	}
}

// TakeEvents returns and clears the recorded events.
func (c *Conn) TakeEvents() []jute.WatcherEvent {
	ev := c.Events
	c.Events = nil
	return ev
}

func (c *Conn) mark(s string) {
	if c.Timeline != nil {
		*c.Timeline = append(*c.Timeline, s)
	}
}
