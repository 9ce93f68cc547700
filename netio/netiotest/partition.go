package netiotest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// link is one direction of the peer network between two members: member
// from dials member to through it. Cut closes its connections and refuses
// new ones until it is healed, which is how a test partitions an ensemble
// (the servers see dead peers, as with a pulled cable).
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newLink listens on a free 127.0.0.1 port and forwards to target.
func newLink(t testing.TB, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(l.close)
	return l
}

func (l *link) addr() string { return l.ln.Addr().String() }

// accept runs until the listener closes (close).
func (l *link) accept() {
	defer l.wg.Done()
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", l.target)
		if err != nil {
			in.Close()
			continue
		}
		if !l.track(in, out) {
			in.Close()
			out.Close()
			continue
		}
		l.wg.Add(2)
		go l.pipe(in, out)
		go l.pipe(out, in)
	}
}

// track registers a proxied pair unless the link is cut.
func (l *link) track(a, b net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	l.conns[a], l.conns[b] = struct{}{}, struct{}{}
	return true
}

// pipe copies until either side fails, then closes both.
func (l *link) pipe(dst, src net.Conn) {
	defer l.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	l.mu.Lock()
	delete(l.conns, dst)
	delete(l.conns, src)
	l.mu.Unlock()
}

// setCut cuts the link (closing what it carries) or heals it.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

func (l *link) close() {
	l.ln.Close()
	l.setCut(true)
	l.wg.Wait()
}

// Isolate cuts every peer link to and from member i: the others see it
// gone and it sees them gone, while its clients stay connected to it.
func (e *Ensemble) Isolate(i int) {
	id := e.Members[i].ID
	for k, l := range e.links {
		if k.from == id || k.to == id {
			l.setCut(true)
		}
	}
}

// Heal restores every peer link.
func (e *Ensemble) Heal() {
	for _, l := range e.links {
		l.setCut(false)
	}
}

// linkKey names the link member from dials member to through.
type linkKey struct{ from, to int }
