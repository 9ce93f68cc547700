package netio

import (
	"sync/atomic"
	"time"
)

// coarseClock is a wall clock read from an atomic, advanced every
// clockResolution by one goroutine. Session touches and txn times happen
// on every request; reading the clock there cost ~8% of a read-heavy
// load's CPU, and millisecond precision is all either needs.
type coarseClock struct {
	nanos atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

const clockResolution = time.Millisecond

func newCoarseClock() *coarseClock {
	c := &coarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(time.Now().UnixNano())
	return c
}

func (c *coarseClock) run() {
	defer close(c.done)
	t := time.NewTicker(clockResolution)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.nanos.Store(now.UnixNano())
		}
	}
}

func (c *coarseClock) halt() {
	close(c.stop)
	<-c.done
}

// UnixNano is the current time, at most clockResolution old.
func (c *coarseClock) UnixNano() int64 { return c.nanos.Load() }

// UnixMilli is the current time in milliseconds.
func (c *coarseClock) UnixMilli() int64 { return c.nanos.Load() / int64(time.Millisecond) }
