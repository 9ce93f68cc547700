package bench

import (
	"strconv"
	"strings"
	"time"

	"zkd/tools/refzk"
)

const probeTimeout = 2 * time.Second

// serverProbe is what a server says about itself through srvr and mntr.
type serverProbe struct {
	ok     bool   // srvr answered with a zxid
	role   string // srvr "Mode:"
	zxid   int64
	fsyncs int64 // -1 when mntr does not count them
}

// Counter names in mntr. zkd reports its log's group commits (one fsync
// each unless forceSync=no); Apache ZooKeeper 3.8 keeps a summary of
// fsync times whose count is the number of fsyncs (FileTxnLog.commit, only
// when forceSync=yes).
var fsyncCounters = []string{"zk_log_syncs", "zk_cnt_fsynctime"}

func probeServer(addr string) serverProbe {
	p := serverProbe{fsyncs: -1}
	if out, err := refzk.FourLetter(addr, "srvr", probeTimeout); err == nil {
		p.role, p.zxid, p.ok = parseSrvr(out)
	}
	if out, err := refzk.FourLetter(addr, "mntr", probeTimeout); err == nil {
		m := parseMntr(out)
		for _, k := range fsyncCounters {
			if v, ok := m[k]; ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					p.fsyncs = n
					break
				}
			}
		}
		if p.role == "" {
			p.role = m["zk_server_state"]
		}
	}
	return p
}

func probeAll(addrs []string) []serverProbe {
	out := make([]serverProbe, len(addrs))
	for i, a := range addrs {
		out[i] = probeServer(a)
	}
	return out
}

// parseSrvr finds "Mode: X" and "Zxid: 0x..." in srvr output.
func parseSrvr(out string) (role string, zxid int64, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		if v, found := strings.CutPrefix(line, "Mode: "); found {
			role = strings.TrimSpace(v)
		}
		if v, found := strings.CutPrefix(line, "Zxid: "); found {
			v = strings.TrimPrefix(strings.TrimSpace(v), "0x")
			if n, err := strconv.ParseUint(v, 16, 64); err == nil {
				zxid, ok = int64(n), true
			}
		}
	}
	return role, zxid, ok
}

// parseMntr splits mntr's "key<TAB>value" lines.
func parseMntr(out string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// LeaderIndex asks each server for its mode and returns the index of the
// leader (or of the only standalone server); -1 when none says so.
func LeaderIndex(addrs []string) int {
	for i, a := range addrs {
		out, err := refzk.FourLetter(a, "srvr", probeTimeout)
		if err != nil {
			continue
		}
		role, _, _ := parseSrvr(out)
		if role == "leader" || (role == "standalone" && len(addrs) == 1) {
			return i
		}
	}
	return -1
}
