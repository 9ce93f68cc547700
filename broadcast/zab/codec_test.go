package zab

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func codecExamples() []Message {
	return []Message{
		{Type: MsgVote, From: 1, To: 2, Round: 3, State: Looking, Vote: Vote{Leader: 2, Zxid: MakeZxid(4, 5), PeerEpoch: 4}},
		{Type: MsgVote, From: 2, To: 1, Round: 9, State: Leading, Vote: Vote{Leader: 2, Zxid: 0, PeerEpoch: 0}},
		{Type: MsgFollowerInfo, From: 1, To: 3, Epoch: 7, Zxid: MakeZxid(7, 1<<32-1), Round: 1<<63 | 5},
		{Type: MsgNewEpoch, From: 3, To: 1, Epoch: 8, Established: true, Round: 1<<63 | 5},
		{Type: MsgAckEpoch, From: 1, To: 3, Epoch: 8, CurrentEpoch: 7, Zxid: MakeZxid(7, 3), Commit: MakeZxid(2, 1),
			Zxids: []Zxid{MakeZxid(5, 9), MakeZxid(7, 3)}},
		{Type: MsgNewLeader, From: 3, To: 1, Epoch: 8, Sync: SyncSnap, Zxid: MakeZxid(6, 2),
			Snapshot: &Snapshot{Zxid: MakeZxid(6, 2), Data: []byte("tree")}, Entries: entriesOf(7, 1, 3)},
		{Type: MsgNewLeader, From: 3, To: 2, Epoch: 8, Sync: SyncTrunc, Zxid: MakeZxid(6, 2), Snapshot: &Snapshot{}},
		{Type: MsgAckNewLeader, From: 1, To: 3, Epoch: 8, Zxid: MakeZxid(7, 3)},
		{Type: MsgUpToDate, From: 3, To: 1, Epoch: 8, Commit: MakeZxid(7, 3)},
		{Type: MsgProposal, From: 3, To: 1, Epoch: 8, Zxid: MakeZxid(7, 3), Entries: []Entry{{Zxid: MakeZxid(8, 1), Data: []byte("x")}, {Zxid: MakeZxid(8, 2)}}},
		{Type: MsgAck, From: 1, To: 3, Epoch: 8, Zxid: MakeZxid(8, 2)},
		{Type: MsgCommit, From: 3, To: 1, Epoch: 8, Commit: MakeZxid(8, 2)},
		{Type: MsgPing, From: 3, To: 1, Epoch: 8, Commit: MakeZxid(8, 2), Zxid: MakeZxid(8, 2)},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range codecExamples() {
		b := AppendMessage(nil, &m)
		got, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip\n got %#v\nwant %#v", got, m)
		}
		for i := range len(b) {
			if _, err := DecodeMessage(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%v cut at %d/%d: %v", m, i, len(b), err)
			}
		}
		if _, err := DecodeMessage(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v with a trailing byte: %v", m, err)
		}
	}
	// Every message a simulation run sends survives the codec.
	s := newSim(t, 3, 42)
	count := 0
	for s.now < 3000 {
		s.step(true)
		for i := max(0, s.traceAt-len(s.trace)); i < s.traceAt; i++ {
			if e := s.trace[i%len(s.trace)]; e.m != nil && e.now == s.now && e.what == "send" {
				b := AppendMessage(nil, e.m)
				got, err := DecodeMessage(b)
				if err != nil || !bytes.Equal(AppendMessage(nil, &got), b) {
					t.Fatalf("%v: %v", *e.m, err)
				}
				count++
			}
		}
	}
	if count == 0 {
		t.Fatal("no messages checked")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range codecExamples() {
		f.Add(AppendMessage(nil, &m))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(MsgProposal), 1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// One encoding per message: what decodes re-encodes to the same bytes.
		if again := AppendMessage(nil, &m); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
		_ = m.String()
	})
}

// A decoded message keeps nothing of the buffer it came from (the peer
// layer reuses it for the next frame), and a PROPOSAL of many entries
// costs a few allocations, not one per entry.
func TestDecodeOwnsItsBytes(t *testing.T) {
	m := Message{Type: MsgProposal, From: 1, To: 2, Epoch: 3, Zxid: MakeZxid(3, 1)}
	for i := range 200 {
		m.Entries = append(m.Entries, Entry{Zxid: MakeZxid(3, uint32(i+2)), Data: bytes.Repeat([]byte{byte(i)}, 1024)})
	}
	b := AppendMessage(nil, &m)
	got, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xee
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatal("the decoded message changed with the buffer it was decoded from")
	}
	b = AppendMessage(nil, &m)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := DecodeMessage(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("decoding a 200-entry PROPOSAL: %.0f allocations", allocs)
	}
}
