package loopback

import (
	"crypto/rand"
	"fmt"
	"net"
	"sync"
)

var (
	hostOnce sync.Once
	host     string
)

// Host is this process's loopback address (without a port).
func Host() string {
	hostOnce.Do(func() { host = pickHost() })
	return host
}

// pickHost draws a 127.a.b.c with a > 0 (127.0.x.y stays for hand-started
// servers) and keeps it if a listener can bind it.
func pickHost() string {
	for range 8 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			break
		}
		if b[0] == 0 || b[2] == 0 || b[2] == 255 {
			continue
		}
		h := fmt.Sprintf("127.%d.%d.%d", b[0], b[1], b[2])
		if l, err := net.Listen("tcp", net.JoinHostPort(h, "0")); err == nil {
			l.Close()
			return h
		}
	}
	return "127.0.0.1"
}

// Addrs returns n distinct free "host:port" addresses on Host. Every
// listener is held until all are chosen, so no two share a port.
func Addrs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(Host(), "0"))
		if err != nil {
			return nil, fmt.Errorf("loopback: pick a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Addr returns one free address on Host.
func Addr() (string, error) {
	a, err := Addrs(1)
	if err != nil {
		return "", err
	}
	return a[0], nil
}
