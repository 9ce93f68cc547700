package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"zkd/broadcast/zab"
)

// Errors returned by New, Start and Validate.
var (
	ErrBadConfig = errors.New("peer: bad config")
	ErrStarted   = errors.New("peer: transport already started")
	ErrStopped   = errors.New("peer: transport stopped")
)

// Defaults for the zero fields of a Config (see WithDefaults).
const (
	DefaultMaxFrameBytes    = 64 << 20 // a SNAP carries a whole snapshot
	DefaultSendQueueMax     = 1024     // messages per peer
	DefaultRecvQueueMax     = 1024     // messages from all peers
	DefaultDialBackoffMin   = 50 * time.Millisecond
	DefaultDialBackoffMax   = 2 * time.Second
	DefaultDialTimeout      = 2 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// Limits that Validate enforces.
const (
	frameBytesMin = 1 << 10
	frameBytesMax = 1 << 30 // far below the 4 GiB a length prefix can name
	queueMax      = 1 << 20
)

// Config describes one server's view of the ensemble's peer network.
type Config struct {
	// ID is this server's id (myid); it must not be zero.
	ID zab.ID
	// Listen is the host:port of this server's peer port.
	Listen string
	// Peers is the host:port of every other server's peer port. It must
	// not name ID. An empty map is a standalone server.
	Peers map[zab.ID]string

	// MaxFrameBytes bounds one encoded message, in both directions: a
	// bigger frame from a peer closes its connection, a bigger message
	// given to Send is dropped (and the link broken, see Send).
	MaxFrameBytes int
	// SendQueueMax bounds the messages queued for one peer.
	SendQueueMax int
	// RecvQueueMax is the capacity of the channel Recv returns.
	RecvQueueMax int

	// DialBackoffMin and DialBackoffMax bound the wait before redialing a
	// peer: it doubles per failed attempt from the minimum up to the
	// maximum, with jitter, and is back at the minimum once a link was up.
	DialBackoffMin, DialBackoffMax time.Duration
	// DialTimeout bounds a TCP connect; HandshakeTimeout bounds the
	// exchange of handshakes on a new connection.
	DialTimeout, HandshakeTimeout time.Duration
	// WriteTimeout is how long a write may make no progress before the
	// link is declared broken (a stuck peer cannot hold the sender).
	WriteTimeout time.Duration

	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	setInt(&c.SendQueueMax, DefaultSendQueueMax)
	setInt(&c.RecvQueueMax, DefaultRecvQueueMax)
	setDur(&c.DialBackoffMin, DefaultDialBackoffMin)
	setDur(&c.DialBackoffMax, max(DefaultDialBackoffMax, c.DialBackoffMin))
	setDur(&c.DialTimeout, DefaultDialTimeout)
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first problem with c (after WithDefaults, so zero
// fields are not problems); the error wraps ErrBadConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	if c.ID == 0 {
		return bad("ID is zero")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("Listen %q: %v", c.Listen, err)
	}
	for id, addr := range c.Peers {
		if id == 0 {
			return bad("peer id zero (%s)", addr)
		}
		if id == c.ID {
			return bad("Peers names this server's own id %v", id)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return bad("peer %v address %q: %v", id, addr, err)
		}
	}
	if c.MaxFrameBytes < frameBytesMin || c.MaxFrameBytes > frameBytesMax {
		return bad("MaxFrameBytes %d outside [%d, %d]", c.MaxFrameBytes, frameBytesMin, frameBytesMax)
	}
	if c.SendQueueMax < 1 || c.SendQueueMax > queueMax {
		return bad("SendQueueMax %d outside [1, %d]", c.SendQueueMax, queueMax)
	}
	if c.RecvQueueMax < 1 || c.RecvQueueMax > queueMax {
		return bad("RecvQueueMax %d outside [1, %d]", c.RecvQueueMax, queueMax)
	}
	if c.DialBackoffMin <= 0 || c.DialBackoffMax < c.DialBackoffMin {
		return bad("dial backoff [%v, %v] is not a positive range", c.DialBackoffMin, c.DialBackoffMax)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"HandshakeTimeout", c.HandshakeTimeout}, {"WriteTimeout", c.WriteTimeout}} {
		if d.v <= 0 {
			return bad("%s %v is not positive", d.name, d.v)
		}
	}
	return nil
}
