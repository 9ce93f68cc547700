package netio

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"zkd/netio/jute"
)

// Version is what srvr, stat and envi report; clients that parse it see a
// 3.8-compatible server.
const Version = "3.8.0-zkd"

var fourLetterWords = map[string]bool{
	"ruok": true, "srvr": true, "stat": true, "mntr": true, "conf": true,
	"cons": true, "envi": true, "wchs": true, "wchc": true, "wchp": true,
	"dump": true, "isro": true, "srst": true, "crst": true, "dirs": true,
}

// peekFourLetterWord reports whether the connection opened with a
// four-letter word instead of a ConnectRequest.
func (c *conn) peekFourLetterWord() (string, bool) {
	if c.gc.InboundBuffered() < 4 {
		return "", false
	}
	b, _ := c.gc.Peek(4)
	w := string(b)
	return w, fourLetterWords[w]
}

// fourLetter answers a four-letter word and closes the connection.
func (srv *Server) fourLetter(c *conn, word string) {
	_, _ = c.gc.Discard(c.gc.InboundBuffered())
	var out string
	if !srv.cfg.fourLetterAllowed(word) {
		out = word + " is not executed because it is not in the whitelist.\n"
	} else {
		out = srv.fourLetterOutput(word)
	}
	c.mu.Lock()
	c.mu.out.B = append(c.mu.out.B, out...)
	c.mu.closeAfter = true
	c.mu.Unlock()
	c.handshaken = true // nothing more is read from this connection
}

func (srv *Server) fourLetterOutput(word string) string {
	var b strings.Builder
	switch word {
	case "ruok":
		return "imok"
	case "isro":
		return "rw"
	case "srvr":
		srv.writeServerStats(&b, false)
	case "stat":
		srv.writeServerStats(&b, true)
	case "srst":
		srv.stats.latMu.Lock()
		srv.stats.latMin, srv.stats.latMax, srv.stats.latSum, srv.stats.latCount = 0, 0, 0, 0
		srv.stats.latMu.Unlock()
		srv.stats.received.Store(0)
		srv.stats.sent.Store(0)
		return "Server stats reset.\n"
	case "crst":
		return "Connection stats reset.\n"
	case "mntr":
		srv.writeMonitor(&b)
	case "conf":
		c := srv.cfg
		fmt.Fprintf(&b, "clientPort=%s\n", portOf(c.Addr))
		fmt.Fprintf(&b, "clientPortAddress=%s\n", hostOf(c.Addr))
		fmt.Fprintf(&b, "tickTime=%d\n", c.TickTime.Milliseconds())
		fmt.Fprintf(&b, "maxClientCnxns=%d\n", c.MaxClientCnxns)
		fmt.Fprintf(&b, "minSessionTimeout=%d\n", c.MinSessionTimeout.Milliseconds())
		fmt.Fprintf(&b, "maxSessionTimeout=%d\n", c.MaxSessionTimeout.Milliseconds())
		fmt.Fprintf(&b, "serverId=%d\n", c.ServerID)
		fmt.Fprintf(&b, "jute.maxbuffer=%d\n", c.MaxRequestBytes)
	case "envi":
		host, _ := os.Hostname()
		wd, _ := os.Getwd()
		b.WriteString("Environment:\n")
		fmt.Fprintf(&b, "zookeeper.version=%s\n", Version)
		fmt.Fprintf(&b, "host.name=%s\n", host)
		fmt.Fprintf(&b, "go.version=%s\n", runtime.Version())
		fmt.Fprintf(&b, "os.name=%s\n", runtime.GOOS)
		fmt.Fprintf(&b, "os.arch=%s\n", runtime.GOARCH)
		fmt.Fprintf(&b, "user.dir=%s\n", wd)
		fmt.Fprintf(&b, "os.cpus=%d\n", runtime.NumCPU())
	case "cons":
		srv.writeConnections(&b)
	case "wchs":
		watchers, paths, total := srv.watches().Stats()
		fmt.Fprintf(&b, "%d connections watching %d paths\nTotal watches:%d\n", watchers, paths, total)
	case "wchc":
		byWatcher := srv.watches().ByWatcher()
		for _, c := range srv.connList() {
			paths := byWatcher[c.id]
			if len(paths) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s\n", sessionHex(c.sessionID()))
			for _, p := range paths {
				fmt.Fprintf(&b, "\t%s\n", p)
			}
		}
	case "wchp":
		byPath := srv.watches().ByPath()
		paths := make([]string, 0, len(byPath))
		for p := range byPath {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&b, "%s\n", p)
			for _, w := range byPath[p] {
				if c := srv.connByWatcher(w); c != nil {
					fmt.Fprintf(&b, "\t%s\n", sessionHex(c.sessionID()))
				}
			}
		}
	case "dump":
		b.WriteString("SessionTracker dump:\n")
		sessions := srv.sessions.all()
		sort.Slice(sessions, func(i, j int) bool { return sessions[i].id < sessions[j].id })
		fmt.Fprintf(&b, "Session Sets (%d):\n", len(sessions))
		for _, s := range sessions {
			fmt.Fprintf(&b, "%s\t%dms\n", sessionHex(s.id), s.timeoutMs.Load())
		}
		b.WriteString("ephemeral nodes dump:\n")
		srv.treeMu.RLock()
		eph := srv.tree.EphemeralsBySession()
		srv.treeMu.RUnlock()
		ids := make([]int64, 0, len(eph))
		for id := range eph {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		fmt.Fprintf(&b, "Sessions with Ephemerals (%d):\n", len(ids))
		for _, id := range ids {
			fmt.Fprintf(&b, "%s:\n", sessionHex(id))
			for _, p := range eph[id] {
				fmt.Fprintf(&b, "\t%s\n", p)
			}
		}
	case "dirs":
		b.WriteString("datadir_size: 0\nlogdir_size: 0\n")
	}
	return b.String()
}

func (srv *Server) connList() []*conn {
	srv.connsMu.RLock()
	defer srv.connsMu.RUnlock()
	out := make([]*conn, 0, len(srv.conns))
	for _, c := range srv.conns {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (srv *Server) latencies() (min, max int64, avg float64) {
	s := &srv.stats
	s.latMu.Lock()
	defer s.latMu.Unlock()
	if s.latCount > 0 {
		avg = float64(s.latSum) / float64(s.latCount)
	}
	return s.latMin, s.latMax, avg
}

func (srv *Server) writeServerStats(b *strings.Builder, withClients bool) {
	fmt.Fprintf(b, "Zookeeper version: %s, built for %s\n", Version, runtime.Version())
	if withClients {
		b.WriteString("Clients:\n")
		srv.writeConnections(b)
		b.WriteString("\n")
	}
	min, max, avg := srv.latencies()
	srv.treeMu.RLock()
	// Apache ZooKeeper counts its root twice ("" and "/"); so do we, so
	// tools comparing node counts see the same number.
	zxid, nodes := srv.tree.LastZxid(), srv.tree.NodeCount()+1
	srv.treeMu.RUnlock()
	fmt.Fprintf(b, "Latency min/avg/max: %d/%.4f/%d\n", min, avg, max)
	fmt.Fprintf(b, "Received: %d\n", srv.stats.received.Load())
	fmt.Fprintf(b, "Sent: %d\n", srv.sentTotal())
	fmt.Fprintf(b, "Connections: %d\n", len(srv.connList()))
	fmt.Fprintf(b, "Outstanding: %d\n", srv.outstanding())
	fmt.Fprintf(b, "Zxid: %s\n", zxidHex(zxid))
	fmt.Fprintf(b, "Mode: %s\n", srv.mode())
	fmt.Fprintf(b, "Node count: %d\n", nodes)
}

func (srv *Server) sentTotal() uint64 {
	var n uint64
	for _, c := range srv.connList() {
		c.mu.Lock()
		n += c.mu.sent
		c.mu.Unlock()
	}
	return n + srv.stats.sent.Load()
}

func (srv *Server) outstanding() uint64 {
	var n uint64
	for _, c := range srv.connList() {
		c.mu.Lock()
		n += c.mu.submitted - c.mu.completed + uint64(len(c.mu.deferred))
		c.mu.Unlock()
	}
	return n
}

// writeConnections prints one line per connection in Apache ZooKeeper's
// cons format, which clients (go-zookeeper's FLWCons among them) parse.
func (srv *Server) writeConnections(b *strings.Builder) {
	for _, c := range srv.connList() {
		c.mu.Lock()
		queued := c.mu.submitted - c.mu.completed + uint64(len(c.mu.deferred))
		sent, last, op, cxid, resp := c.mu.sent, c.mu.lastZxid, c.mu.lastOp, c.mu.lastCxid, c.mu.lastResp
		c.mu.Unlock()
		var timeout int32
		if s := srv.sessions.get(c.sessionID()); s != nil {
			timeout = s.timeoutMs.Load()
		}
		fmt.Fprintf(b, " /%s[1](queued=%d,recved=%d,sent=%d,sid=%s,lop=%s,est=%d,to=%d,lcxid=0x%x,lzxid=%s,lresp=%d,llat=0,minlat=0,avglat=0,maxlat=0)\n",
			c.peer, queued, c.received.Load(), sent, sessionHex(c.sessionID()), shortOp(op),
			c.opened.UnixMilli(), timeout, uint32(cxid), zxidHex(last), resp)
	}
}

// shortOp is the four-letter name cons gives an op, as ZooKeeper prints it.
func shortOp(op jute.Op) string {
	switch op {
	case jute.OpGetData:
		return "GETD"
	case jute.OpSetData:
		return "SETD"
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return "CREA"
	case jute.OpDelete:
		return "DELE"
	case jute.OpExists:
		return "EXIS"
	case jute.OpGetChildren, jute.OpGetChildren2:
		return "GETC"
	case jute.OpGetACL:
		return "GETA"
	case jute.OpSetACL:
		return "SETA"
	case jute.OpSync:
		return "SYNC"
	case jute.OpPing:
		return "PING"
	case jute.OpMulti, jute.OpMultiRead:
		return "MULT"
	case jute.OpCloseSession:
		return "CLOS"
	case jute.OpCreateSession:
		return "SESS"
	case jute.OpSetWatches, jute.OpSetWatches2:
		return "SETW"
	}
	return "NA"
}

func (srv *Server) writeMonitor(b *strings.Builder) {
	min, max, avg := srv.latencies()
	srv.treeMu.RLock()
	nodes, eph, size := srv.tree.NodeCount()+1, srv.tree.EphemeralCount(), srv.tree.DataBytes()
	mismatches := srv.tree.DigestMismatches()
	srv.treeMu.RUnlock()
	watches := srv.watches().Count()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	lines := []struct {
		k string
		v any
	}{
		{"zk_version", Version},
		{"zk_server_state", srv.mode()},
		{"zk_avg_latency", fmt.Sprintf("%.4f", avg)},
		{"zk_max_latency", max},
		{"zk_min_latency", min},
		{"zk_packets_received", srv.stats.received.Load()},
		{"zk_packets_sent", srv.sentTotal()},
		{"zk_num_alive_connections", len(srv.connList())},
		{"zk_outstanding_requests", srv.outstanding()},
		{"zk_znode_count", nodes},
		{"zk_watch_count", watches},
		{"zk_ephemerals_count", eph},
		{"zk_approximate_data_size", size},
		{"zk_global_sessions", srv.sessions.count()},
		{"zk_uptime", time.Since(srv.started).Milliseconds()},
		{"zk_go_heap_bytes", m.HeapAlloc},
		{"zk_max_request_bytes", srv.cfg.MaxRequestBytes},
		// Snapshot digests that did not match the tree when the replay
		// reached them (tree.DigestCheck), as ZooKeeper counts its own.
		{"zk_digest_mismatches_count", mismatches},
	}
	for _, l := range lines {
		fmt.Fprintf(b, "%s\t%v\n", l.k, l.v)
	}
	if open, limit, ok := fileDescriptors(); ok {
		// As ZooKeeper prints on Unix; monitoring alerts on the ratio.
		fmt.Fprintf(b, "zk_open_file_descriptor_count\t%d\nzk_max_file_descriptor_count\t%d\n", open, limit)
	}
	if srv.ens != nil && srv.leading() {
		// Only a leader prints these, as ZooKeeper's does.
		joined, synced := srv.ens.Followers()
		fmt.Fprintf(b, "zk_followers\t%d\nzk_synced_followers\t%d\n", joined, synced)
	}
	if srv.cfg.LogStats != nil {
		txns, syncs := srv.cfg.LogStats()
		fmt.Fprintf(b, "zk_log_txns\t%d\nzk_log_syncs\t%d\n", txns, syncs)
	}
}

// fileDescriptors returns how many file descriptors the process has open
// and may open (RLIMIT_NOFILE), where /proc/self/fd exists (Linux).
func fileDescriptors() (open, limit uint64, ok bool) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, false
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0, 0, false
	}
	// The directory being read holds one of them.
	return uint64(max(len(fds)-1, 0)), rl.Cur, true
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[:i]
	}
	return addr
}
