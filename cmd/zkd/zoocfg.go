package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"zkd/netio"
)

// config is everything zkd reads from zoo.cfg; keys it does not use are
// kept in Extra and logged, as Apache ZooKeeper turns them into system
// properties.
type config struct {
	Net     netio.Config
	DataDir string
	LogDir  string

	SnapCount         int
	SnapRetainCount   int
	PurgeIntervalHour int
	InitLimit         int
	SyncLimit         int
	ForceSync         bool
	Servers           map[int]string
	Extra             map[string]string
}

func defaultConfig() config {
	return config{
		Net: netio.Config{
			Addr:            "127.0.0.1:2181",
			TickTime:        2000 * time.Millisecond,
			FourLetterWords: []string{"*"},
		},
		DataDir:         "./zkd-data",
		SnapCount:       100000,
		SnapRetainCount: 3,
		ForceSync:       true,
		Servers:         map[int]string{},
		Extra:           map[string]string{},
	}
}

// parseZooCfg reads zoo.cfg lines (key=value, # comments) over defaults.
// A zoo.cfg without 4lw.commands.whitelist gets Apache ZooKeeper's default
// ("srvr" only).
func parseZooCfg(r io.Reader, c config) (config, error) {
	c.Net.FourLetterWords = []string{"srvr"}
	port, host := "2181", "0.0.0.0"
	sc := bufio.NewScanner(r)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("zoo.cfg line %d: expected key=value: %q", lineNo, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var err error
		atoi := func() int {
			n, e := strconv.Atoi(val)
			if e != nil && err == nil {
				err = fmt.Errorf("zoo.cfg line %d: %s: %w", lineNo, key, e)
			}
			return n
		}
		ms := func() time.Duration { return time.Duration(atoi()) * time.Millisecond }
		switch {
		case key == "tickTime":
			c.Net.TickTime = ms()
		case key == "initLimit":
			c.InitLimit = atoi()
		case key == "syncLimit":
			c.SyncLimit = atoi()
		case key == "dataDir":
			c.DataDir = val
		case key == "dataLogDir":
			c.LogDir = val
		case key == "clientPort":
			port = val
			atoi()
		case key == "clientPortAddress":
			host = val
		case key == "maxClientCnxns":
			c.Net.MaxClientCnxns = atoi()
		case key == "minSessionTimeout":
			c.Net.MinSessionTimeout = ms()
		case key == "maxSessionTimeout":
			c.Net.MaxSessionTimeout = ms()
		case key == "snapCount":
			c.SnapCount = atoi()
		case key == "autopurge.snapRetainCount":
			c.SnapRetainCount = atoi()
		case key == "autopurge.purgeInterval":
			c.PurgeIntervalHour = atoi()
		case key == "4lw.commands.whitelist":
			c.Net.FourLetterWords = strings.Split(val, ",")
		case key == "jute.maxbuffer":
			c.Net.MaxRequestBytes = atoi()
		case key == "forceSync":
			c.ForceSync = val != "no"
		case key == "DigestAuthenticationProvider.superDigest":
			c.Net.SuperDigest = val
		case key == "extendedTypesEnabled":
			c.Net.ExtendedTypes = val == "true"
		case key == "znode.container.checkIntervalMs":
			c.Net.ContainerCheckInterval = ms()
		case strings.HasPrefix(key, "server."):
			id, e := strconv.Atoi(strings.TrimPrefix(key, "server."))
			if e != nil {
				return c, fmt.Errorf("zoo.cfg line %d: bad server id in %q", lineNo, key)
			}
			c.Servers[id] = val
		default:
			c.Extra[key] = val
		}
		if err != nil {
			return c, err
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	c.Net.Addr = net.JoinHostPort(host, port)
	return c, nil
}
