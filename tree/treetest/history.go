package treetest

import (
	"math/rand/v2"

	"zkd/netio/jute"
	"zkd/tree"
)

// History returns n random transactions, prepared and applied in
// order against a scratch tree by a tree.Preparer, as the pipeline makes
// them: creates of every mode, deletes, setData, setACL, multi, sessions
// and their ephemerals. dataBytes is the size of the data each create and
// setData carries (random bytes, so it does not compress away).
func History(rng *rand.Rand, n, dataBytes int) []tree.Txn {
	tr := tree.New()
	p := tree.NewPreparer(tr, 0)
	p.ExtendedTypes = true
	now := int64(1_700_000_000_000)
	names := []string{"a", "b", "c", "d"}
	path := func() string {
		s := ""
		for d := 1 + rng.IntN(3); d > 0; d-- {
			s += "/" + names[rng.IntN(len(names))]
		}
		return s
	}
	data := func() []byte {
		if rng.IntN(10) == 0 {
			return nil
		}
		b := make([]byte, rng.IntN(dataBytes+1))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	acls := [][]jute.ACL{tree.OpenACLUnsafe, tree.ReadACLUnsafe,
		{{Perms: jute.PermAll, ID: jute.ID{Scheme: "digest", ID: "u:x"}}}}
	sessions := []int64{0x10, 0x20, 0x30}
	txns := make([]tree.Txn, 0, n)
	for len(txns) < n {
		r := tree.Request{Session: sessions[rng.IntN(len(sessions))], Auth: []jute.ID{{Scheme: "digest", ID: "u:x"}}}
		create := func() jute.CreateRequest {
			c := jute.CreateRequest{Path: path(), Data: data(), ACL: acls[rng.IntN(len(acls))], Flags: int32(rng.IntN(7))}
			if c.Flags == jute.ModePersistentSequential || c.Flags == jute.ModeEphemeralSequential || c.Flags == jute.ModePersistentSequentialWithTTL {
				c.Path += "/s-"
			}
			if c.Flags >= jute.ModePersistentWithTTL {
				c.TTL, c.HasTTL = 1000, true
			}
			return c
		}
		switch k := rng.IntN(20); {
		case k < 8:
			c := create()
			r.Op, r.Create = jute.OpCreate, &c
			if c.HasTTL {
				r.Op = jute.OpCreateTTL
			} else if c.Flags == jute.ModeContainer {
				r.Op = jute.OpCreateContainer
			}
		case k < 11:
			r.Op, r.Delete = jute.OpDelete, &jute.PathVersionRequest{Path: path(), Version: -1}
		case k < 15:
			r.Op, r.SetData = jute.OpSetData, &jute.SetDataRequest{Path: path(), Data: data(), Version: -1}
		case k < 16:
			r.Op, r.SetACL = jute.OpSetACL, &jute.SetACLRequest{Path: path(), ACL: acls[rng.IntN(len(acls))], Version: -1}
		case k < 18:
			c := create()
			c.Flags = jute.ModePersistent
			r.Op, r.Multi = jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
				{Op: jute.OpCreate, Create: c},
				{Op: jute.OpSetData, SetData: jute.SetDataRequest{Path: path(), Data: data(), Version: -1}},
			}}
		case k < 19:
			r.Op, r.Timeout = jute.OpCreateSession, int32(4000+rng.IntN(4)*1000)
		default:
			r.Op = jute.OpCloseSession
		}
		now += int64(rng.IntN(50))
		x := p.Prepare(&r, now)
		tr.Apply(&x, nil)
		p.Applied(x.Zxid)
		txns = append(txns, x)
	}
	return txns
}
