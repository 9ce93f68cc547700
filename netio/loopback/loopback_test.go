package loopback

import (
	"net"
	"strings"
	"testing"
)

func TestHostIsLoopback(t *testing.T) {
	ip := net.ParseIP(Host())
	if ip == nil || !ip.IsLoopback() {
		t.Fatalf("Host() = %q, not a loopback address", Host())
	}
	if Host() != Host() {
		t.Fatal("Host changed within one process")
	}
}

// An address handed out stays bindable after outgoing connections to
// loopback have taken many ephemeral ports, which is the race it exists
// to avoid.
func TestAddrsStayFreeUnderOutgoingConnections(t *testing.T) {
	addrs, err := Addrs(4)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || !strings.HasPrefix(a, Host()+":") {
			t.Fatalf("address %q repeated or not on %s", a, Host())
		}
		seen[a] = true
	}
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("bind %s after 200 outgoing connections: %v", a, err)
		}
		l.Close()
	}
}
