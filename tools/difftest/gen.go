package difftest

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"

	"zkd/netio/jute"
)

// Kind says how a Step is sent.
type Kind int

const (
	// KindCall is a request with an ordinary xid.
	KindCall Kind = iota
	// KindPing is a ping (xid -2).
	KindPing
	// KindAuth is addauth (xid -4); Req is a *jute.AuthPacket.
	KindAuth
	// KindSetWatches is setWatches or setWatches2 (xid -8); Req is a
	// *jute.SetWatches whose RelativeZxid is chosen at run time by Rel.
	KindSetWatches
	// KindReconnect closes the slot's socket and resumes its session on a
	// new connection (the way a client reconnects after a network blip).
	KindReconnect
	// KindClose closes the slot's session; the slot's next step opens a
	// new one.
	KindClose
	// KindBatch sends Batch (ordinary calls of slot S) pipelined: all
	// requests first, then all replies. "@ID.K" names what Batch[K]
	// created.
	KindBatch
)

// Rel chooses a setWatches relativeZxid at run time, on each server from
// its own zxids.
type Rel struct {
	// LastSeen: the highest reply zxid the slot's session has seen
	// (what a real client sends).
	LastSeen bool
	// Otherwise the namespace's base zxid plus Plus (0: only the
	// namespace creation counts as seen).
	Plus int64
}

// Step is one action of a sequence, run by session slot S.
//
// Paths in Req are templates: a leading "~" stands for the sequence's
// namespace root, and a leading "@ID" or "@ID.K" for the path that step ID
// (op K of a multi or batch) created, on the server being run. The runner resolves
// them per server, so sequential names are whatever that server chose.
type Step struct {
	ID   int
	S    int
	Kind Kind
	Op   jute.Op
	Req  jute.Record
	Rel  Rel
	// Batch holds the requests of a KindBatch step.
	Batch []Step
}

// Sequence is a generated list of steps over one namespace.
type Sequence struct {
	Seed  uint64 // the sequence's own seed
	Index int    // its index within the run
	Steps []Step
}

// The super user: SuperDigest is what both servers are configured with,
// and superAuth ("super:test") authenticates as super.
const (
	SuperDigest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
	superAuth   = "super:test"
)

// digestOf is DigestAuthenticationProvider.generateDigest.
func digestOf(userPass string) string {
	user, _, _ := strings.Cut(userPass, ":")
	sum := sha1.Sum([]byte(userPass))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// Limits of generated sequences.
const (
	slotsMax        = 3
	stepsMin        = 15
	stepsMax        = 55
	multiOpsMax     = 5
	setWatchPathMax = 3
	bigDataBytes    = 512 << 10
	overLimitBytes  = 0xfffff + 16 // one frame over jute.maxbuffer
)

var (
	names       = []string{"a", "b", "c", "d"}
	seqNames    = []string{"", "s-", "q", "a"}
	openACL     = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	readACL     = []jute.ACL{{Perms: jute.PermRead, ID: jute.ID{Scheme: "world", ID: "anyone"}}}
	users       = []string{"u1:p1", "u2:p2"}
	badPathsRaw = []string{
		"", "a", "~/", "~//a", "~/a/", "~/.", "~/./a", "~/..", "~/a/..", "~/a\x00b",
		"~/a\x01", "~/\uf000", "~/\xff", "~/a/./b", "//", "/..", "/.",
	}
	goodOddPaths = []string{"~/\u00e9t\u00e9", "~/a b", "~/a.b", "~/..a", "~/a:b", "~/\u4e2d"}
	systemPaths  = []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}
)

// gen holds what the generator knows while building one sequence. It
// does not model the servers: it only remembers which paths it tried to
// create, so later steps name them often enough to succeed sometimes.
type gen struct {
	r      *rand.Rand
	seq    *Sequence
	slots  int
	nodes  []string // template paths created (or tried)
	ephems []string // those created ephemeral
	// inBatch, when set, collects steps for a batch instead of the sequence.
	inBatch *[]Step
}

// Generate builds sequence index of a run from its seed. The same
// (runSeed, index) always yields the same sequence.
func Generate(runSeed uint64, index int) *Sequence {
	seed := runSeed ^ (uint64(index)+1)*0x9e3779b97f4a7c15
	g := &gen{r: rand.New(rand.NewPCG(seed, uint64(index))), seq: &Sequence{Seed: seed, Index: index}}
	g.slots = 1 + g.r.IntN(slotsMax)
	n := stepsMin + g.r.IntN(stepsMax-stepsMin+1)
	// Start with a few nodes so most steps find something.
	for i, n := 0, 2+g.r.IntN(3); i < n; i++ {
		g.create(0, jute.OpCreate, g.newChildPath(false), openACL, g.modeFor(jute.OpCreate, true), 0)
	}
	for len(g.seq.Steps) < n {
		g.step()
	}
	return g.seq
}

// add appends s and returns the template that names what it creates.
func (g *gen) add(s Step) string {
	if g.inBatch != nil {
		*g.inBatch = append(*g.inBatch, s)
		return fmt.Sprintf("@%d.%d", len(g.seq.Steps), len(*g.inBatch)-1)
	}
	s.ID = len(g.seq.Steps)
	g.seq.Steps = append(g.seq.Steps, s)
	return fmt.Sprintf("@%d", s.ID)
}

// batchable ops: ordinary calls whose templates can name batch results.
var batchable = []string{"create", "create2", "createContainer", "createTTL", "delete", "exists",
	"getData", "setData", "getACL", "setACL", "getChildren", "getChildren2", "getAllChildrenNumber",
	"getEphemerals", "sync", "addWatch", "checkWatches", "removeWatches", "whoAmI", "multiRead"}

// batch makes a pipelined step of 2..5 ordinary calls on slot s.
func (g *gen) batch(s int) {
	var sub []Step
	g.inBatch = &sub
	for n := 2 + g.r.IntN(4); len(sub) < n; {
		g.op(g.pick(batchable), s)
	}
	g.inBatch = nil
	g.add(Step{S: s, Kind: KindBatch, Batch: sub})
}

func (g *gen) slot() int {
	if g.r.IntN(2) == 0 {
		return 0
	}
	return g.r.IntN(g.slots)
}

func (g *gen) pct(p int) bool { return g.r.IntN(100) < p }

// op weights; the sum is arbitrary.
var opWeights = []struct {
	name string
	w    int
}{
	{"create", 10}, {"create2", 6}, {"createContainer", 3}, {"createTTL", 4},
	{"delete", 8}, {"exists", 6}, {"getData", 6}, {"setData", 7},
	{"getACL", 3}, {"setACL", 4}, {"getChildren", 4}, {"getChildren2", 3},
	{"getAllChildrenNumber", 2}, {"getEphemerals", 2}, {"sync", 2},
	{"multi", 7}, {"multiRead", 3}, {"auth", 3}, {"setWatches", 2},
	{"setWatches2", 2}, {"reconnect", 2}, {"addWatch", 3}, {"checkWatches", 2},
	{"removeWatches", 3}, {"whoAmI", 2}, {"ping", 1}, {"close", 2}, {"batch", 4},
}

var opWeightSum = func() int {
	s := 0
	for _, o := range opWeights {
		s += o.w
	}
	return s
}()

func (g *gen) step() {
	k := g.r.IntN(opWeightSum)
	name := ""
	for _, o := range opWeights {
		if k < o.w {
			name = o.name
			break
		}
		k -= o.w
	}
	g.op(name, g.slot())
}

// op appends one step of the named kind on slot s.
func (g *gen) op(name string, s int) {
	switch name {
	case "create", "create2", "createContainer", "createTTL":
		op := map[string]jute.Op{"create": jute.OpCreate, "create2": jute.OpCreate2,
			"createContainer": jute.OpCreateContainer, "createTTL": jute.OpCreateTTL}[name]
		mode := g.modeFor(op, false)
		g.create(s, op, g.createPath(mode), g.acl(), mode, g.ttlFor(op, mode))
	case "delete":
		g.add(Step{S: s, Op: jute.OpDelete, Req: &jute.PathVersionRequest{Path: g.deletePath(), Version: g.version()}})
	case "exists", "getData", "getChildren", "getChildren2":
		op := map[string]jute.Op{"exists": jute.OpExists, "getData": jute.OpGetData,
			"getChildren": jute.OpGetChildren, "getChildren2": jute.OpGetChildren2}[name]
		g.add(Step{S: s, Op: op, Req: &jute.PathWatchRequest{Path: g.readPath(), Watch: g.pct(60)}})
	case "setData":
		g.add(Step{S: s, Op: jute.OpSetData, Req: &jute.SetDataRequest{Path: g.writePath(), Data: g.data(), Version: g.version()}})
	case "getACL":
		g.add(Step{S: s, Op: jute.OpGetACL, Req: &jute.PathRequest{Path: g.readPath()}})
	case "setACL":
		g.add(Step{S: s, Op: jute.OpSetACL, Req: &jute.SetACLRequest{Path: g.writePath(), ACL: g.acl(), Version: g.version()}})
	case "getAllChildrenNumber":
		g.add(Step{S: s, Op: jute.OpGetAllChildrenNumber, Req: &jute.PathRequest{Path: g.readPath()}})
	case "getEphemerals":
		prefix := g.pick([]string{"~", "~/a", "/", "", "~/", "zz", g.existing()})
		g.add(Step{S: s, Op: jute.OpGetEphemerals, Req: &jute.PathRequest{Path: prefix}})
	case "sync":
		g.add(Step{S: s, Op: jute.OpSync, Req: &jute.PathRequest{Path: g.readPath()}})
	case "multi":
		g.multi(s)
	case "multiRead":
		m := &jute.MultiRequest{}
		for i, n := 0, 1+g.r.IntN(4); i < n; i++ {
			op := jute.OpGetData
			if g.pct(50) {
				op = jute.OpGetChildren
			}
			m.Ops = append(m.Ops, jute.MultiOp{Op: op, Read: jute.PathWatchRequest{Path: g.readPath()}})
		}
		g.add(Step{S: s, Op: jute.OpMultiRead, Req: m})
	case "auth":
		g.add(Step{S: s, Kind: KindAuth, Op: jute.OpAuth, Req: g.auth()})
	case "setWatches", "setWatches2":
		g.setWatches(s, name == "setWatches2")
	case "reconnect":
		g.add(Step{S: s, Kind: KindReconnect})
		if g.pct(80) {
			g.setWatches(s, g.pct(50))
		}
	case "addWatch":
		mode := jute.AddWatchPersistent
		if g.pct(50) {
			mode = jute.AddWatchPersistentRecursive
		}
		g.add(Step{S: s, Op: jute.OpAddWatch, Req: &jute.PathTypeRequest{Path: g.readPath(), Type: mode}})
	case "checkWatches", "removeWatches":
		op := jute.OpCheckWatches
		if name == "removeWatches" {
			op = jute.OpRemoveWatches
		}
		typ := int32(1 + g.r.IntN(5)) // only the types 1..5 Apache ZooKeeper knows
		g.add(Step{S: s, Op: op, Req: &jute.PathTypeRequest{Path: g.readPath(), Type: typ}})
	case "whoAmI":
		g.add(Step{S: s, Op: jute.OpWhoAmI})
	case "ping":
		g.add(Step{S: s, Kind: KindPing, Op: jute.OpPing})
	case "close":
		g.add(Step{S: s, Kind: KindClose, Op: jute.OpCloseSession})
	case "batch":
		g.batch(s)
	default:
		panic("difftest: unknown op " + name)
	}
}

func (g *gen) pick(v []string) string { return v[g.r.IntN(len(v))] }

// existing returns a path the generator created (or the root).
func (g *gen) existing() string {
	if len(g.nodes) == 0 || g.pct(10) {
		return "~"
	}
	return g.nodes[g.r.IntN(len(g.nodes))]
}

func (g *gen) randomPath() string {
	p := "~"
	for d, n := 0, 1+g.r.IntN(3); d < n; d++ {
		p += "/" + g.pick(names)
	}
	return p
}

func (g *gen) badPath() string { return g.pick(badPathsRaw) }

// readPath: mostly existing nodes, sometimes random, missing, odd, bad or
// system paths.
func (g *gen) readPath() string {
	switch k := g.r.IntN(100); {
	case k < 60:
		return g.existing()
	case k < 78:
		return g.randomPath()
	case k < 84:
		return g.badPath()
	case k < 88:
		return g.pick(goodOddPaths)
	case k < 94:
		return g.pick(systemPaths)
	default:
		return g.existing() + "/nosuch"
	}
}

// writePath never names system nodes: writing them would change state
// that later sequences see.
func (g *gen) writePath() string {
	switch k := g.r.IntN(100); {
	case k < 70:
		return g.existing()
	case k < 88:
		return g.randomPath()
	case k < 95:
		return g.badPath()
	default:
		return g.pick(goodOddPaths)
	}
}

func (g *gen) deletePath() string {
	switch k := g.r.IntN(100); {
	case k < 72:
		return g.existing()
	case k < 84:
		return g.randomPath()
	case k < 92:
		return g.badPath()
	default:
		return g.pick(systemPaths) // all refused: BadArguments
	}
}

// newChildPath names a child of an existing node (or of the root).
func (g *gen) newChildPath(sequential bool) string {
	parent := g.existing()
	if sequential {
		return parent + "/" + g.pick(seqNames)
	}
	return parent + "/" + g.pick(names)
}

// createPath never yields a sequential create outside the namespace: "/",
// "/zookeeper", "/." or "/.." plus a suffix are valid top-level names, and
// top-level nodes change the root's cversion, which every later sequence
// sees (a difference there would spread to all of them).
func (g *gen) createPath(mode int32) string {
	seq := isSequential(mode)
	switch k := g.r.IntN(100); {
	case k < 70:
		return g.newChildPath(seq)
	case k < 78 && len(g.ephems) > 0:
		return g.ephems[g.r.IntN(len(g.ephems))] + "/" + g.pick(names)
	case k < 86:
		return g.randomPath()
	case k < 92:
		if p := g.badPath(); !seq || strings.HasPrefix(p, "~") {
			return p
		}
		return "~/./" + g.pick(names)
	case k < 95:
		return g.pick(goodOddPaths)
	case k < 97 && !seq:
		return g.pick([]string{"/", "/zookeeper", "/zookeeper/quota", "~"})
	default:
		return "~/nosuch/" + g.pick(names)
	}
}

func (g *gen) modeFor(op jute.Op, plain bool) int32 {
	if plain {
		return jute.ModePersistent
	}
	switch op {
	case jute.OpCreateContainer:
		if g.pct(80) {
			return jute.ModeContainer
		}
		return int32(g.r.IntN(7))
	case jute.OpCreateTTL:
		if g.pct(80) {
			return jute.ModePersistentWithTTL + int32(g.r.IntN(2))
		}
		return int32(g.r.IntN(5))
	}
	switch k := g.r.IntN(100); {
	case k < 35:
		return jute.ModePersistent
	case k < 55:
		return jute.ModeEphemeral
	case k < 75:
		return jute.ModePersistentSequential
	case k < 90:
		return jute.ModeEphemeralSequential
	case k < 93:
		return jute.ModeContainer
	case k < 97:
		return jute.ModePersistentWithTTL + int32(g.r.IntN(2))
	default:
		return g.pick32([]int32{7, -1, 99})
	}
}

func (g *gen) pick32(v []int32) int32 { return v[g.r.IntN(len(v))] }

// ttlFor picks a TTL. A createTTL with a non-TTL mode and a negative TTL
// kills Apache ZooKeeper 3.8.0 (DESIGN.md), so that mode gets ttl >= 0.
func (g *gen) ttlFor(op jute.Op, mode int32) int64 {
	if op != jute.OpCreateTTL {
		return 0
	}
	if mode != jute.ModePersistentWithTTL && mode != jute.ModePersistentSequentialWithTTL {
		return []int64{0, 1000}[g.r.IntN(2)]
	}
	v := []int64{1, 1000, 60000, 3600_000, jute.TTLMax, jute.TTLMax + 1, 0, -1, -100, 1 << 62}
	if g.pct(75) {
		return v[g.r.IntN(4)]
	}
	return v[g.r.IntN(len(v))]
}

func (g *gen) version() int32 {
	return g.pick32([]int32{-1, -1, -1, 0, 0, 1, 2, 5, -2})
}

func (g *gen) data() []byte {
	switch k := g.r.IntN(1000); {
	case k < 80:
		return nil
	case k < 160:
		return []byte{}
	case k < 800:
		b := make([]byte, 1+g.r.IntN(16))
		for i := range b {
			b[i] = byte('a' + g.r.IntN(26))
		}
		return b
	case k < 940:
		b := make([]byte, 64+g.r.IntN(2000))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return b
	case k < 990:
		return make([]byte, 4096+g.r.IntN(60000))
	case k < 997 || g.inBatch != nil:
		// A frame over the limit closes the connection; what becomes of
		// requests pipelined before it is a race on both servers.
		return make([]byte, bigDataBytes)
	default:
		return make([]byte, overLimitBytes)
	}
}

func (g *gen) perms() int32 {
	if g.pct(50) {
		return jute.PermAll
	}
	return int32(g.r.IntN(32))
}

func (g *gen) acl() []jute.ACL {
	world := func(p int32) jute.ACL { return jute.ACL{Perms: p, ID: jute.ID{Scheme: "world", ID: "anyone"}} }
	id := func(p int32, scheme, id string) jute.ACL {
		return jute.ACL{Perms: p, ID: jute.ID{Scheme: scheme, ID: id}}
	}
	switch k := g.r.IntN(100); {
	case k < 55:
		return openACL
	case k < 60:
		return readACL
	case k < 65:
		return []jute.ACL{world(g.perms())}
	case k < 70:
		return []jute.ACL{id(g.perms(), "auth", "")}
	case k < 76:
		return []jute.ACL{id(g.perms(), "digest", digestOf(g.pick(users)))}
	case k < 80:
		return []jute.ACL{id(jute.PermAll, "digest", digestOf(users[0])), world(jute.PermRead)}
	case k < 84:
		return []jute.ACL{id(g.perms(), "ip", g.pick([]string{"127.0.0.1", "127.0.0.0/8", "10.0.0.0/8", "10.1.2.3"}))}
	case k < 86:
		return []jute.ACL{world(jute.PermAll), world(jute.PermAll)}
	case k < 88:
		return []jute.ACL{}
	case k < 89:
		return nil
	case k < 91:
		return []jute.ACL{id(jute.PermAll, "world", "nobody")}
	case k < 93:
		return []jute.ACL{id(jute.PermAll, "digest", g.pick([]string{"nocolon", "a:b:c", ":x", "u1:"}))}
	case k < 95:
		return []jute.ACL{id(jute.PermAll, "foo", "bar")}
	case k < 97:
		return []jute.ACL{id(jute.PermAll, "ip", g.pick([]string{"1.2.3", "127.0.0.1/33", "::1", "x"}))}
	case k < 98:
		return []jute.ACL{id(jute.PermAll, "auth", "someone")}
	default:
		return []jute.ACL{world(g.pick32([]int32{0, 32, 64, -1}))}
	}
}

func (g *gen) auth() *jute.AuthPacket {
	switch k := g.r.IntN(100); {
	case k < 45:
		return &jute.AuthPacket{Scheme: "digest", Auth: []byte(g.pick(users))}
	case k < 60:
		return &jute.AuthPacket{Scheme: "digest", Auth: []byte(superAuth)}
	case k < 65:
		return &jute.AuthPacket{Scheme: "digest", Auth: []byte("super:wrong")}
	case k < 72:
		return &jute.AuthPacket{Scheme: "digest", Auth: []byte(g.pick([]string{"nocolon", "", ":", "u1:p1:x"}))}
	case k < 82:
		return &jute.AuthPacket{Scheme: "ip", Auth: []byte(g.pick([]string{"", "127.0.0.1", "x"}))}
	case k < 92:
		return &jute.AuthPacket{Scheme: g.pick([]string{"foo", "world", "super", "sasl"}), Auth: []byte("u1:p1")}
	default:
		return &jute.AuthPacket{Scheme: "digest", Auth: []byte(users[0]), Type: 1}
	}
}

func (g *gen) create(s int, op jute.Op, path string, acl []jute.ACL, mode int32, ttl int64) {
	req := &jute.CreateRequest{Path: path, Data: g.data(), ACL: acl, Flags: mode, TTL: ttl, HasTTL: op == jute.OpCreateTTL}
	g.remember(g.add(Step{S: s, Op: op, Req: req}), path, mode)
}

// remember adds a create's path to the pool: the literal path, or a
// reference to the step's result when the name is sequential.
func (g *gen) remember(ref, path string, mode int32) {
	if !strings.HasPrefix(path, "~/") && !strings.HasPrefix(path, "@") {
		return
	}
	if isSequential(mode) {
		path = ref
	}
	g.nodes = append(g.nodes, path)
	if mode == jute.ModeEphemeral || mode == jute.ModeEphemeralSequential {
		g.ephems = append(g.ephems, path)
	}
}

func isSequential(mode int32) bool {
	return mode == jute.ModePersistentSequential || mode == jute.ModeEphemeralSequential ||
		mode == jute.ModePersistentSequentialWithTTL
}

func (g *gen) multi(s int) {
	m := &jute.MultiRequest{}
	id := len(g.seq.Steps)
	n := g.r.IntN(multiOpsMax + 1)
	type pend struct {
		ref, path string
		mode      int32
	}
	var created []pend
	for i := 0; i < n; i++ {
		switch k := g.r.IntN(100); {
		case k < 40:
			op := g.pick32([]int32{int32(jute.OpCreate), int32(jute.OpCreate), int32(jute.OpCreate2), int32(jute.OpCreateContainer), int32(jute.OpCreateTTL)})
			mode := g.modeFor(jute.Op(op), false)
			path := g.createPath(mode)
			if g.pct(30) && len(created) > 0 {
				path = created[len(created)-1].path + "/" + g.pick(names)
			}
			acl := openACL
			if g.pct(25) {
				acl = g.acl()
			}
			req := jute.CreateRequest{Path: path, Data: g.data(), ACL: acl, Flags: mode, TTL: g.ttlFor(jute.Op(op), mode)}
			m.Ops = append(m.Ops, jute.MultiOp{Op: jute.Op(op), Create: req})
			created = append(created, pend{fmt.Sprintf("@%d.%d", id, i), path, mode})
		case k < 60:
			m.Ops = append(m.Ops, jute.MultiOp{Op: jute.OpDelete, Delete: jute.PathVersionRequest{Path: g.deletePath(), Version: g.version()}})
		case k < 80:
			m.Ops = append(m.Ops, jute.MultiOp{Op: jute.OpSetData, SetData: jute.SetDataRequest{Path: g.writePath(), Data: g.data(), Version: g.version()}})
		default:
			m.Ops = append(m.Ops, jute.MultiOp{Op: jute.OpCheck, Delete: jute.PathVersionRequest{Path: g.readPath(), Version: g.version()}})
		}
	}
	g.add(Step{S: s, Op: jute.OpMulti, Req: m})
	for _, c := range created {
		g.remember(c.ref, c.path, c.mode)
	}
}

func (g *gen) setWatches(s int, two bool) {
	sw := &jute.SetWatches{Two: two}
	nullAt := -1 // clients send empty vectors; a null one is rare
	if g.pct(5) {
		nullAt = g.r.IntN(5)
	}
	lists := 0
	list := func() []string {
		v := []string{}
		if lists++; lists-1 == nullAt {
			return nil
		}
		for i, n := 0, g.r.IntN(setWatchPathMax+1); i < n; i++ {
			v = append(v, g.readPath())
		}
		return v
	}
	sw.DataWatches, sw.ExistWatches, sw.ChildWatches = list(), list(), list()
	if two {
		sw.PersistentWatches, sw.PersistentRecursive = list(), list()
	}
	rel := Rel{LastSeen: g.pct(60)}
	if !rel.LastSeen {
		rel.Plus = int64(g.r.IntN(len(g.seq.Steps) + 1))
	}
	op := jute.OpSetWatches
	if two {
		op = jute.OpSetWatches2
	}
	g.add(Step{S: s, Kind: KindSetWatches, Op: op, Req: sw, Rel: rel})
}
