package zab

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the testdata/scenarios files. The expected output is
// the message trace (and the core's log lines in parentheses). Commands:
//
//	disk id=N [accepted=E leader=N current=E] [snap=E.C] [entries=E.A-E.B,...]
//	                  set a server's disk before start
//	start n=N [chunk=K]  create N servers from their disks; sync sends
//	                  at most K entries per message
//	stabilize         run Readys and deliver messages until quiet
//	tick [n=K] [quiet | show=TYPE,...]
//	                  K ticks, each followed by stabilize; quiet prints the
//	                  status instead of the trace, show only messages of
//	                  these types (and log lines), then the status
//	propose id=N data=S
//	crash id=N / restart id=N
//	isolate id=N / heal
//	status            one line per server
//
// Rewrite with: go test ./broadcast/zab/ -run TestScenarios -rewrite
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var c *cluster
		disks := map[ID]*simDisk{}
		isolated := map[ID]bool{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out := func() string {
				if len(c.trace) == 0 {
					return ""
				}
				s := strings.Join(c.trace, "\n")
				c.trace = nil
				return s + "\n"
			}
			id := func() ID {
				var v int
				d.ScanArgs(t, "id", &v)
				return ID(v)
			}
			switch d.Cmd {
			case "disk":
				dk := &simDisk{}
				for _, a := range d.CmdArgs {
					switch a.Key {
					case "accepted":
						dk.hs.AcceptedEpoch = Epoch(atoi(t, a.Vals[0]))
					case "leader":
						dk.hs.AcceptedLeader = ID(atoi(t, a.Vals[0]))
					case "current":
						dk.hs.CurrentEpoch = Epoch(atoi(t, a.Vals[0]))
					case "snap":
						z := parseZxid(t, a.Vals[0])
						dk.snap = Snapshot{Zxid: z, Data: []byte("snap@" + z.String())}
					case "entries":
						for _, r := range strings.Split(strings.Join(a.Vals, ","), ",") {
							lo, hi, _ := strings.Cut(r, "-")
							a, b := parseZxid(t, lo), parseZxid(t, hi)
							dk.entries = append(dk.entries, entriesOf(a.Epoch(), a.Counter(), b.Counter())...)
						}
					}
				}
				disks[id()] = dk
				return ""
			case "start":
				var n int
				d.ScanArgs(t, "n", &n)
				c = newCluster(t, n, disks)
				if d.HasArg("chunk") {
					d.ScanArgs(t, "chunk", &c.chunk)
					for _, n := range c.nodes {
						n.syncChunkEntries = c.chunk
					}
				}
				c.drop = func(m Message) bool { return isolated[m.From] || isolated[m.To] }
				return out()
			case "stabilize":
				c.stabilize()
				return out()
			case "tick":
				n := 1
				if d.HasArg("n") {
					d.ScanArgs(t, "n", &n)
				}
				c.tick(n)
				if d.HasArg("quiet") {
					c.trace = nil
					return status(c)
				}
				if d.HasArg("show") {
					var show []string
					for _, a := range d.CmdArgs {
						if a.Key == "show" {
							show = strings.Split(strings.Join(a.Vals, ","), ",")
						}
					}
					c.trace = slices.DeleteFunc(c.trace, func(line string) bool {
						return !strings.HasPrefix(line, "  (") && !slices.ContainsFunc(show, func(s string) bool { return strings.Contains(line, " "+s+" ") })
					})
					return out() + status(c)
				}
				return out()
			case "propose":
				var data string
				d.ScanArgs(t, "data", &data)
				z, err := c.nodes[id()].Propose([]byte(data))
				if err != nil {
					return err.Error() + "\n"
				}
				return z.String() + "\n"
			case "crash":
				c.crash(id())
				return ""
			case "restart":
				c.start(id())
				return out()
			case "isolate":
				isolated[id()] = true
				return ""
			case "heal":
				clear(isolated)
				return ""
			case "status":
				return status(c)
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

func status(c *cluster) string {
	var b strings.Builder
	for _, id := range c.ids {
		if c.down[id] {
			fmt.Fprintf(&b, "%v: down\n", id)
			continue
		}
		st := c.nodes[id].Status()
		fmt.Fprintf(&b, "%v: %v %v", id, st.State, st.Phase)
		switch st.State {
		case Leading:
			fmt.Fprintf(&b, " epoch=%v established=%v", st.Epoch, st.Established)
		case Following:
			fmt.Fprintf(&b, " leader=%v uptodate=%v", st.Leader, st.UpToDate)
		}
		fmt.Fprintf(&b, " %v log=%v..%v commit=%v applied=%d\n", st.HardState, st.LogStart, st.LastZxid, st.Commit, len(c.applied[id]))
	}
	return b.String()
}

func atoi(t *testing.T, s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parseZxid(t *testing.T, s string) Zxid {
	e, c, ok := strings.Cut(s, ".")
	if !ok {
		t.Fatalf("zxid %q is not E.C", s)
	}
	return MakeZxid(Epoch(atoi(t, e)), uint32(atoi(t, c)))
}
