package zab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Wire format of a peer message (the driver frames it, e.g. with a length
// prefix):
//
//	message = type:u8 from:uv to:uv mask:uv field*
//
// where uv is an unsigned varint (encoding/binary) and mask has one bit per
// field that is present, in this order; absent fields are zero:
//
//	bit 0  Round         uv
//	bit 1  State         u8 (0 looking, 1 following, 2 leading)
//	bit 2  Vote          leader:uv zxid:uv peerEpoch:uv
//	bit 3  Epoch         uv (< 2^32)
//	bit 4  Established   (no payload)
//	bit 5  CurrentEpoch  uv (< 2^32)
//	bit 6  Zxid          uv
//	bit 7  Commit        uv
//	bit 8  Zxids         count:uv zxid:uv*
//	bit 9  Sync          u8 (1 DIFF, 2 TRUNC, 3 SNAP)
//	bit 10 Snapshot      zxid:uv len:uv bytes
//	bit 11 Entries       count:uv (zxid:uv len:uv bytes)*
//	bit 12 Last          uv
//
// A field is present iff it is not zero (an empty slice counts as zero), so
// every message has one encoding. DecodeMessage rejects unknown types and
// bits, out-of-range values, counts that the remaining bytes cannot hold
// (so a bad count cannot make it allocate) and trailing bytes.

// ErrMalformed is returned by DecodeMessage for bytes that are not a
// message.
var ErrMalformed = errors.New("zab: malformed message")

const (
	fRound = 1 << iota
	fState
	fVote
	fEpoch
	fEstablished
	fCurrentEpoch
	fZxid
	fCommit
	fZxids
	fSync
	fSnapshot
	fEntries
	fLast
	fAll = 1<<iota - 1
)

// AppendMessage appends m's encoding to b.
func AppendMessage(b []byte, m *Message) []byte {
	mask := 0
	set := func(bit int, present bool) {
		if present {
			mask |= bit
		}
	}
	set(fRound, m.Round != 0)
	set(fState, m.State != 0)
	set(fVote, m.Vote != Vote{})
	set(fEpoch, m.Epoch != 0)
	set(fEstablished, m.Established)
	set(fCurrentEpoch, m.CurrentEpoch != 0)
	set(fZxid, m.Zxid != 0)
	set(fCommit, m.Commit != 0)
	set(fZxids, len(m.Zxids) > 0)
	set(fSync, m.Sync != 0)
	set(fSnapshot, m.Snapshot != nil)
	set(fEntries, len(m.Entries) > 0)
	set(fLast, m.Last != 0)

	// One growth up front: a proposal carries megabytes of entries.
	size := 64 + 10*len(m.Zxids)
	if m.Snapshot != nil {
		size += len(m.Snapshot.Data)
	}
	for i := range m.Entries {
		size += 20 + len(m.Entries[i].Data)
	}
	b = slices.Grow(b, size)
	b = append(b, byte(m.Type))
	b = binary.AppendUvarint(b, uint64(m.From))
	b = binary.AppendUvarint(b, uint64(m.To))
	b = binary.AppendUvarint(b, uint64(mask))
	if mask&fRound != 0 {
		b = binary.AppendUvarint(b, m.Round)
	}
	if mask&fState != 0 {
		b = append(b, byte(m.State))
	}
	if mask&fVote != 0 {
		b = binary.AppendUvarint(b, uint64(m.Vote.Leader))
		b = binary.AppendUvarint(b, uint64(m.Vote.Zxid))
		b = binary.AppendUvarint(b, uint64(m.Vote.PeerEpoch))
	}
	if mask&fEpoch != 0 {
		b = binary.AppendUvarint(b, uint64(m.Epoch))
	}
	if mask&fCurrentEpoch != 0 {
		b = binary.AppendUvarint(b, uint64(m.CurrentEpoch))
	}
	if mask&fZxid != 0 {
		b = binary.AppendUvarint(b, uint64(m.Zxid))
	}
	if mask&fCommit != 0 {
		b = binary.AppendUvarint(b, uint64(m.Commit))
	}
	if mask&fZxids != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Zxids)))
		for _, z := range m.Zxids {
			b = binary.AppendUvarint(b, uint64(z))
		}
	}
	if mask&fSync != 0 {
		b = append(b, byte(m.Sync))
	}
	if mask&fSnapshot != 0 {
		b = binary.AppendUvarint(b, uint64(m.Snapshot.Zxid))
		b = binary.AppendUvarint(b, uint64(len(m.Snapshot.Data)))
		b = append(b, m.Snapshot.Data...)
	}
	if mask&fEntries != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Entries)))
		for _, e := range m.Entries {
			b = binary.AppendUvarint(b, uint64(e.Zxid))
			b = binary.AppendUvarint(b, uint64(len(e.Data)))
			b = append(b, e.Data...)
		}
	}
	if mask&fLast != 0 {
		b = binary.AppendUvarint(b, uint64(m.Last))
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n > 1 && d.b[n-1] == 0 {
		d.fail("bad varint") // or an overlong one: one encoding per message
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) epoch() Epoch {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("epoch %d", v)
	}
	return Epoch(v)
}

// count reads a count of items that take at least min bytes each.
func (d *decoder) count(minBytes int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)/minBytes) {
		d.fail("count %d with %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil || n == 0 {
		return nil
	}
	out := d.b[:n:n] // d.b is DecodeMessage's own copy
	d.b = d.b[n:]
	return out
}

// DecodeMessage decodes one message; the result shares no memory with b.
// The byte fields (a snapshot, the entries' data) share one copy of the
// rest of b, made once: a PROPOSAL carries hundreds of entries, and one
// allocation per entry cost a follower a tenth of its CPU.
func DecodeMessage(b []byte) (Message, error) {
	d := &decoder{b: b}
	var m Message
	m.Type = MsgType(d.byte1())
	if d.err == nil && (m.Type == 0 || m.Type >= msgTypeEnd) {
		d.fail("type %d", m.Type)
	}
	m.From, m.To = ID(d.uvarint()), ID(d.uvarint())
	mask := d.uvarint()
	if mask&^fAll != 0 {
		d.fail("mask %#x", mask)
	}
	if d.err == nil && mask&(fSnapshot|fEntries) != 0 {
		d.b = bytes.Clone(d.b)
	}
	if mask&fRound != 0 {
		if m.Round = d.uvarint(); m.Round == 0 {
			d.fail("zero round")
		}
	}
	if mask&fState != 0 {
		if m.State = State(d.byte1()); m.State == Looking || m.State > Leading {
			d.fail("state %d", m.State)
		}
	}
	if mask&fVote != 0 {
		m.Vote = Vote{Leader: ID(d.uvarint()), Zxid: Zxid(d.uvarint()), PeerEpoch: d.epoch()}
		if m.Vote == (Vote{}) {
			d.fail("zero vote")
		}
	}
	if mask&fEpoch != 0 {
		if m.Epoch = d.epoch(); m.Epoch == 0 {
			d.fail("zero epoch")
		}
	}
	m.Established = mask&fEstablished != 0
	if mask&fCurrentEpoch != 0 {
		if m.CurrentEpoch = d.epoch(); m.CurrentEpoch == 0 {
			d.fail("zero current epoch")
		}
	}
	if mask&fZxid != 0 {
		if m.Zxid = Zxid(d.uvarint()); m.Zxid == 0 {
			d.fail("zero zxid")
		}
	}
	if mask&fCommit != 0 {
		if m.Commit = Zxid(d.uvarint()); m.Commit == 0 {
			d.fail("zero commit")
		}
	}
	if mask&fZxids != 0 {
		n := d.count(1)
		if d.err == nil && n == 0 {
			d.fail("empty zxids")
		}
		m.Zxids = make([]Zxid, 0, n)
		for range n {
			m.Zxids = append(m.Zxids, Zxid(d.uvarint()))
		}
	}
	if mask&fSync != 0 {
		if m.Sync = SyncKind(d.byte1()); m.Sync == 0 || m.Sync > SyncSnap {
			d.fail("sync %d", m.Sync)
		}
	}
	if mask&fSnapshot != 0 {
		m.Snapshot = &Snapshot{Zxid: Zxid(d.uvarint())}
		m.Snapshot.Data = d.bytes()
	}
	if mask&fEntries != 0 {
		n := d.count(2)
		if d.err == nil && n == 0 {
			d.fail("empty entries")
		}
		m.Entries = make([]Entry, 0, n)
		for range n {
			z := Zxid(d.uvarint())
			m.Entries = append(m.Entries, Entry{Zxid: z, Data: d.bytes()})
		}
	}
	if mask&fLast != 0 {
		if m.Last = Zxid(d.uvarint()); m.Last == 0 {
			d.fail("zero last")
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Message{}, d.err
	}
	return m, nil
}
