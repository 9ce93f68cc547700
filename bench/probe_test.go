package bench

import "testing"

func TestParseSrvr(t *testing.T) {
	for _, tc := range []struct {
		out  string
		role string
		zxid int64
		ok   bool
	}{
		{"Zookeeper version: 3.8.0-zkd\nLatency min/avg/max: 0/0.0000/0\nZxid: 0x1a\nMode: standalone\nNode count: 5\n", "standalone", 0x1a, true},
		{"Zookeeper version: 3.8.0-...\nZxid: 0x100000005\nMode: follower\n", "follower", 0x100000005, true},
		{"This ZooKeeper instance is not currently serving requests\n", "", 0, false},
	} {
		role, zxid, ok := parseSrvr(tc.out)
		if role != tc.role || zxid != tc.zxid || ok != tc.ok {
			t.Errorf("parseSrvr(%q) = %q %x %v", tc.out, role, zxid, ok)
		}
	}
}

func TestParseMntr(t *testing.T) {
	m := parseMntr("zk_version\t3.8.0\nzk_server_state\tleader\nzk_cnt_fsynctime\t42\nzk_log_syncs\t7\n\n")
	if m["zk_server_state"] != "leader" || m["zk_cnt_fsynctime"] != "42" || m["zk_log_syncs"] != "7" || len(m) != 4 {
		t.Errorf("%v", m)
	}
}
