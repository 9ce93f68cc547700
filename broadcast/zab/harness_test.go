package zab

import (
	"fmt"
	"slices"
	"testing"
)

// cluster is a small synchronous harness for scenario tests: every Ready is
// persisted at once, messages queue in one FIFO and are delivered by
// stabilize, and a filter may drop them.
type cluster struct {
	t       testing.TB
	ids     []ID
	nodes   map[ID]*Node
	disks   map[ID]*simDisk
	applied map[ID][]Entry
	queue   []Message
	trace   []string
	drop    func(Message) bool
	down    map[ID]bool
	noTrace bool
	chunk   int // syncChunkEntries, if set
}

type diskSnaps struct{ d *simDisk }

func (s diskSnaps) Snapshot() (Snapshot, error) {
	if s.d.snap.Zxid == 0 {
		return Snapshot{}, fmt.Errorf("no snapshot")
	}
	return s.d.snap, nil
}

func newCluster(t testing.TB, n int, disks map[ID]*simDisk) *cluster {
	c := &cluster{t: t, nodes: map[ID]*Node{}, disks: map[ID]*simDisk{}, applied: map[ID][]Entry{}, down: map[ID]bool{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, ID(i))
	}
	for _, id := range c.ids {
		d := disks[id]
		if d == nil {
			d = &simDisk{}
		}
		c.disks[id] = d
		c.start(id)
	}
	return c
}

func (c *cluster) start(id ID) {
	d := c.disks[id]
	n, err := NewNode(Config{
		ID: id, Peers: c.ids, ElectionTicks: 10, InitTicks: 10, SyncTicks: 5, HeartbeatTicks: 1, Seed: 7,
		HardState: d.hs, LogStart: d.snap.Zxid, Entries: slices.Clone(d.entries), Applied: d.snap.Zxid,
		Snapshots: diskSnaps{d},
		Logf: func(format string, args ...any) {
			c.trace = append(c.trace, "  ("+fmt.Sprintf(format, args...)+")")
		},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if c.chunk > 0 {
		n.syncChunkEntries = c.chunk
	}
	c.nodes[id] = n
	c.applied[id] = nil
	delete(c.down, id)
}

func (c *cluster) crash(id ID) {
	c.down[id] = true
	c.queue = slices.DeleteFunc(c.queue, func(m Message) bool { return m.To == id || m.From == id })
}

// handle runs one Ready of node id, persisting at once.
func (c *cluster) handle(id ID) bool {
	n := c.nodes[id]
	if c.down[id] || !n.HasReady() {
		return false
	}
	rd := n.Ready()
	d := c.disks[id]
	if rd.Snapshot != nil {
		d.snap, d.entries = *rd.Snapshot, nil
	}
	if rd.Truncate {
		d.entries = slices.DeleteFunc(d.entries, func(e Entry) bool { return e.Zxid > rd.TruncateAfter })
	}
	d.entries = append(d.entries, rd.Entries...)
	if rd.HardState != nil {
		d.hs = *rd.HardState
	}
	for _, m := range slices.Concat(rd.Messages, rd.MessagesAfterPersist) {
		if c.drop != nil && c.drop(m) {
			c.trace = append(c.trace, "drop "+m.String())
			continue
		}
		c.queue = append(c.queue, m)
	}
	c.applied[id] = append(c.applied[id], rd.Committed...)
	n.Advance()
	return true
}

// stabilize runs Readys and delivers messages until nothing moves.
func (c *cluster) stabilize() {
	for range 10000 {
		moved := false
		for _, id := range c.ids {
			for c.handle(id) {
				moved = true
			}
		}
		q := c.queue
		c.queue = nil
		for _, m := range q {
			if c.down[m.To] {
				continue
			}
			if !c.noTrace {
				c.trace = append(c.trace, m.String())
			}
			if err := c.nodes[m.To].Step(m); err != nil {
				c.t.Fatal(err)
			}
			moved = true
		}
		if !moved {
			return
		}
	}
	c.t.Fatal("cluster does not stabilize")
}

func (c *cluster) tick(n int) {
	for range n {
		for _, id := range c.ids {
			if !c.down[id] {
				c.nodes[id].Tick()
			}
		}
		c.stabilize()
	}
}

// leader ticks until one node is an established leader and returns it.
func (c *cluster) leader() *Node {
	for range 200 {
		c.stabilize()
		for _, id := range c.ids {
			if st := c.nodes[id].Status(); !c.down[id] && st.State == Leading && st.Established {
				return c.nodes[id]
			}
		}
		c.tick(1)
	}
	c.t.Fatalf("no leader; trace:\n%v", c.trace)
	return nil
}

func entriesOf(epoch Epoch, from, to uint32) []Entry {
	var es []Entry
	for i := from; i <= to; i++ {
		es = append(es, Entry{Zxid: MakeZxid(epoch, i), Data: fmt.Appendf(nil, "%d.%d", epoch, i)})
	}
	return es
}
