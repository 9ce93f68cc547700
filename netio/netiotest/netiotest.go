// Package netiotest starts in-process zkd servers on loopback for tests of
// the packages that talk to one (the wire client, the load generator).
package netiotest

import (
	"io"
	"log/slog"
	"testing"
	"zkd/netio/loopback"

	"zkd/broadcast"
	"zkd/netio"
	"zkd/tree"
)

// Start runs a standalone in-memory server with cfg (a free 127.0.0.1 port
// when cfg.Addr is empty) and stops it when the test ends. It returns the
// server's address.
func Start(t testing.TB, cfg netio.Config) string {
	t.Helper()
	if cfg.Addr == "" {
		addr, err := loopback.Addr()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = addr
	}
	srv := netio.NewServer(cfg, tree.New(), &broadcast.MemLog{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return cfg.Addr
}
