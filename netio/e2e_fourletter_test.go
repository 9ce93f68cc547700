package netio_test

// End-to-end tests of four-letter words over raw TCP connections.

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/netio"
)

func TestE2EFourLetterWords(t *testing.T) {
	addr := e2eStart(t)
	_, port, _ := net.SplitHostPort(addr)
	c := e2eConnect(t, addr)
	if _, err := c.Create("/flw", []byte("x"), 0, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/flw/eph", nil, zk.FlagEphemeral, e2eOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.GetW("/flw"); err != nil {
		t.Fatal(err)
	}
	sid := e2eHex(c.SessionID())

	for _, tc := range []struct {
		word  string
		exact string
		has   []string
	}{
		{word: "ruok", exact: "imok"},
		{word: "isro", exact: "rw"},
		{word: "srvr", has: []string{"Zookeeper version: ", "Latency min/avg/max: ", "Received: ", "Sent: ",
			"Connections: ", "Outstanding: ", "Zxid: 0x", "Mode: " + e2eMode() + "\n", "Node count: "}},
		{word: "stat", has: []string{"Zookeeper version: ", "Clients:\n /127.0.0.1:", "Mode: " + e2eMode() + "\n", "Node count: "}},
		{word: "mntr", has: []string{"zk_version\t", "zk_server_state\t" + e2eMode() + "\n", "zk_znode_count\t",
			"zk_watch_count\t", "zk_ephemerals_count\t1\n", "zk_num_alive_connections\t", "zk_outstanding_requests\t",
			"zk_open_file_descriptor_count\t", "zk_max_file_descriptor_count\t", "zk_digest_mismatches_count\t0\n"}},
		{word: "conf", has: []string{"clientPort=" + port + "\n", "tickTime=100\n", "maxSessionTimeout=2000\n", "minSessionTimeout=200\n"}},
		{word: "cons", has: []string{" /127.0.0.1:", "sid=" + sid}},
		{word: "envi", has: []string{"Environment:\n", "zookeeper.version=", "host.name="}},
		{word: "wchs", has: []string{"1 connections watching 1 paths\n", "Total watches:1\n"}},
		{word: "wchc", has: []string{sid + "\n\t/flw\n"}},
		{word: "wchp", has: []string{"/flw\n\t" + sid + "\n"}},
		{word: "dump", has: []string{"SessionTracker dump:", "ephemeral nodes dump:", sid, "\t/flw/eph\n"}},
	} {
		out := e2eFourLetter(t, addr, tc.word)
		if tc.exact != "" && out != tc.exact {
			t.Errorf("%s: %q, want %q", tc.word, out, tc.exact)
		}
		for _, h := range tc.has {
			if !strings.Contains(out, h) {
				t.Errorf("%s: output lacks %q:\n%s", tc.word, h, out)
			}
		}
	}
	// The session is undisturbed by all of that.
	if d, _, err := c.Get("/flw"); err != nil || string(d) != "x" {
		t.Errorf("get after four-letter words: %q %v", d, err)
	}
	if oks := zk.FLWRuok([]string{addr}, e2eWait); len(oks) != 1 || !oks[0] {
		t.Errorf("zk.FLWRuok: %v", oks)
	}
}

func TestE2EFourLetterWhitelist(t *testing.T) {
	addr := e2eStart(t, func(c *netio.Config) { c.FourLetterWords = []string{"srvr", "ruok"} })
	for _, w := range []string{"stat", "mntr", "dump", "wchc", "conf", "cons"} {
		out := e2eFourLetter(t, addr, w)
		if want := w + " is not executed because it is not in the whitelist.\n"; out != want {
			t.Errorf("%s: %q, want %q", w, out, want)
		}
	}
	if out := e2eFourLetter(t, addr, "srvr"); !strings.Contains(out, "Mode: "+e2eMode()) {
		t.Errorf("srvr (whitelisted): %q", out)
	}
	if out := e2eFourLetter(t, addr, "ruok"); out != "imok" {
		t.Errorf("ruok (whitelisted): %q", out)
	}
	// A client still connects normally afterwards.
	c := e2eConnect(t, addr)
	if _, _, err := c.Exists("/"); err != nil {
		t.Error(err)
	}
}

// TestE2EFourLetterConsFormat: go-zookeeper's FLWCons parses cons lines in
// ZooKeeper's format, " /ip:port[1](queued=..,recved=..,sent=..,sid=0x..,
// lop=..,est=..,to=..,lcxid=0x..,lzxid=0x..,lresp=..,llat=..,minlat=..,
// avglat=..,maxlat=..)". Against ZooKeeper 3.8 it returns every session's
// line (the cons connection's own short line does not parse, so its ok is
// false there too).
func TestE2EFourLetterConsFormat(t *testing.T) {
	addr := e2eStart(t)
	c := e2eConnect(t, addr)
	if _, _, err := c.Exists("/"); err != nil {
		t.Fatal(err)
	}
	res, _ := zk.FLWCons([]string{addr}, e2eWait)
	if len(res) != 1 {
		t.Fatalf("FLWCons: %v", res)
	}
	found := false
	for _, cl := range res[0].Clients {
		if cl.SessionID == c.SessionID() {
			found = true
			if cl.Timeout != int32(e2eSessionTimeout/time.Millisecond) {
				t.Errorf("cons: timeout %d, want %d", cl.Timeout, e2eSessionTimeout/time.Millisecond)
			}
		}
	}
	if !found {
		t.Errorf("FLWCons found no line for session %s; cons says:\n%s", e2eHex(c.SessionID()), e2eFourLetter(t, addr, "cons"))
	}
}

// TestE2EMonitorLogStats: with a commit log that counts its work, mntr
// reports its transactions and group commits (the benchmark reads them to
// compute transactions per fsync).
func TestE2EMonitorLogStats(t *testing.T) {
	if e2eReference() {
		t.Skip("zkd's own mntr lines")
	}
	addr := e2eStart(t, func(c *netio.Config) {
		c.LogStats = func() (uint64, uint64) { return 7, 3 }
	})
	out := e2eFourLetter(t, addr, "mntr")
	for _, want := range []string{"zk_log_txns\t7\n", "zk_log_syncs\t3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("mntr lacks %q:\n%s", want, out)
		}
	}
}
