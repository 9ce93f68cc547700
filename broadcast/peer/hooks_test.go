package peer

import (
	"zkd/broadcast/zab"
)

// breakOutbound closes the connection this transport sends to id on, as a
// network failure would; the writer notices and redials.
func (t *Transport) breakOutbound(id zab.ID) bool {
	p := t.peers[id]
	p.mu.Lock()
	c := p.mu.conn
	p.mu.Unlock()
	if c == nil {
		return false
	}
	c.Close()
	return true
}

// breakInbound closes the connection this transport receives from id on.
func (t *Transport) breakInbound(id zab.ID) bool {
	t.mu.Lock()
	ic := t.mu.inbound[id]
	t.mu.Unlock()
	if ic == nil {
		return false
	}
	ic.c.Close()
	return true
}
