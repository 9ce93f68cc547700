package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseZooCfg(t *testing.T) {
	cfg := `
# a typical zoo.cfg
tickTime=500
initLimit=10
syncLimit=5
dataDir=/var/lib/zk
dataLogDir=/var/log/zk
clientPort=2999
clientPortAddress=127.0.0.2
maxClientCnxns=0
minSessionTimeout=1500
maxSessionTimeout=9000
snapCount=5000
autopurge.snapRetainCount=4
autopurge.purgeInterval=2
4lw.commands.whitelist=ruok, srvr,mntr
jute.maxbuffer=4096
forceSync=no
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
extendedTypesEnabled=true
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182
localSessionsEnabled=false
`
	c, err := parseZooCfg(strings.NewReader(cfg), defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"tick", c.Net.TickTime, 500 * time.Millisecond},
		{"addr", c.Net.Addr, "127.0.0.2:2999"},
		{"dataDir", c.DataDir, "/var/lib/zk"},
		{"logDir", c.LogDir, "/var/log/zk"},
		{"maxCnxns", c.Net.MaxClientCnxns, 0},
		{"minTimeout", c.Net.MinSessionTimeout, 1500 * time.Millisecond},
		{"maxTimeout", c.Net.MaxSessionTimeout, 9000 * time.Millisecond},
		{"snapCount", c.SnapCount, 5000},
		{"retain", c.SnapRetainCount, 4},
		{"purge", c.PurgeIntervalHour, 2},
		{"4lw", strings.Join(c.Net.FourLetterWords, ","), "ruok, srvr,mntr"},
		{"maxbuffer", c.Net.MaxRequestBytes, 4096},
		{"forceSync", c.ForceSync, false},
		{"superDigest", c.Net.SuperDigest, "super:D/InIHSb7yEEbrWz8b9l71RjZJU="},
		{"ttl", c.Net.ExtendedTypes, true},
		{"servers", len(c.Servers), 2},
		{"server2", c.Servers[2], "127.0.0.1:2889:3889:participant;127.0.0.1:2182"},
		{"extra", c.Extra["localSessionsEnabled"], "false"},
		{"initLimit", c.InitLimit, 10},
		{"syncLimit", c.SyncLimit, 5},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestParseZooCfgDefaultsAndErrors(t *testing.T) {
	c, err := parseZooCfg(strings.NewReader("clientPort=2181\n"), defaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.Net.Addr != "0.0.0.0:2181" {
		t.Errorf("addr without clientPortAddress: %s", c.Net.Addr)
	}
	if len(c.Net.FourLetterWords) != 1 || c.Net.FourLetterWords[0] != "srvr" {
		t.Errorf("a zoo.cfg without a whitelist gets ZooKeeper's default srvr: %v", c.Net.FourLetterWords)
	}
	for _, bad := range []string{"tickTime=abc\n", "justakey\n", "server.x=1:2:3\n"} {
		if _, err := parseZooCfg(strings.NewReader(bad), defaultConfig()); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}
