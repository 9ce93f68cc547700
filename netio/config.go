package netio

import (
	"strings"
	"time"
)

// Config is what the front end needs; cmd/zkd fills it from zoo.cfg and
// flags.
type Config struct {
	// Addr is host:port to listen on (clientPortAddress:clientPort).
	Addr string
	// TickTime is ZooKeeper's basic time unit.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound negotiated timeouts;
	// zero means 2 and 20 ticks.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxClientCnxns limits connections per client IP; 0 is unlimited.
	MaxClientCnxns int
	// MaxRequestBytes is the largest frame accepted (jute.maxbuffer).
	MaxRequestBytes int
	// FourLetterWords is the whitelist of four-letter words; "*" is all.
	FourLetterWords []string
	// SuperDigest is "super:<base64 sha1>": a session that authenticates
	// with its password gets the super identity (bypasses ACLs).
	SuperDigest string
	// ExtendedTypes enables TTL nodes.
	ExtendedTypes bool
	// ServerID prefixes session ids (myid).
	ServerID int64
	// EventLoops is the number of gnet event loops; 0 means one per core.
	EventLoops int
	// ContainerCheckInterval is how often empty containers and expired TTL
	// nodes are reaped (znode.container.checkIntervalMs); 0 means 60 s.
	ContainerCheckInterval time.Duration
	// LogStats, when set, reports the commit log's counters since it
	// opened: transactions logged and group commits (one fsync each unless
	// forceSync=no). mntr prints them as zk_log_txns and zk_log_syncs, so
	// the benchmark can report transactions per fsync.
	LogStats func() (txns, syncs uint64)
}

// DefaultMaxRequestBytes is jute.maxbuffer's default, 0xfffff.
const DefaultMaxRequestBytes = 0xfffff

// WithDefaults returns c with zero fields set to ZooKeeper's defaults.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:2181"
	}
	if c.TickTime <= 0 {
		c.TickTime = 2000 * time.Millisecond
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 20 * c.TickTime
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.FourLetterWords == nil {
		c.FourLetterWords = []string{"srvr"}
	}
	if c.ContainerCheckInterval <= 0 {
		c.ContainerCheckInterval = 60 * time.Second
	}
	return c
}

func (c *Config) fourLetterAllowed(cmd string) bool {
	for _, w := range c.FourLetterWords {
		w = strings.TrimSpace(w)
		if w == "*" || w == cmd {
			return true
		}
	}
	return false
}
