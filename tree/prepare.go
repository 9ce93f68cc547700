package tree

import (
	"fmt"
	"slices"
	"strings"

	"zkd/netio/jute"
)

// Request is a write request as the leader prepares it.
type Request struct {
	Session int64
	Cxid    int32
	Op      jute.Op
	Auth    []jute.ID // the session's identities, for ACL checks

	Create  *jute.CreateRequest      // create, create2, createContainer, createTTL
	Delete  *jute.PathVersionRequest // delete, check, deleteContainer
	SetData *jute.SetDataRequest
	SetACL  *jute.SetACLRequest
	Multi   *jute.MultiRequest
	Timeout int32 // createSession

	// inline holds the record DecodeBody decodes for the common writes,
	// so that a request is one allocation rather than two.
	inline struct {
		create  jute.CreateRequest
		delete  jute.PathVersionRequest
		setData jute.SetDataRequest
	}
}

// DecodeBody decodes the client record of q.Op into q's field for it
// (the create family, delete, check and deleteContainer, setData, setACL,
// multi); it reports false, decoding nothing, for an op without one. The
// reader's error tells whether the record was whole.
func (q *Request) DecodeBody(r *jute.Reader) bool {
	switch q.Op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		q.inline.create = jute.CreateRequest{HasTTL: q.Op == jute.OpCreateTTL}
		q.Create = &q.inline.create
		q.Create.Decode(r)
	case jute.OpDelete, jute.OpCheck, jute.OpDeleteContainer:
		q.inline.delete = jute.PathVersionRequest{}
		q.Delete = &q.inline.delete
		q.Delete.Decode(r)
	case jute.OpSetData:
		q.inline.setData = jute.SetDataRequest{}
		q.SetData = &q.inline.setData
		q.SetData.Decode(r)
	case jute.OpSetACL:
		q.SetACL = &jute.SetACLRequest{}
		q.SetACL.Decode(r)
	case jute.OpMulti:
		q.Multi = &jute.MultiRequest{}
		q.Multi.Decode(r)
	default:
		return false
	}
	return true
}

// EncodeBody encodes the record DecodeBody decodes (nothing for an op
// without one).
func (q *Request) EncodeBody(w *jute.Writer) {
	switch {
	case q.Create != nil && IsCreate(q.Op):
		q.Create.Encode(w)
	case q.Delete != nil:
		q.Delete.Encode(w)
	case q.SetData != nil:
		q.SetData.Encode(w)
	case q.SetACL != nil:
		q.SetACL.Encode(w)
	case q.Multi != nil:
		q.Multi.Encode(w)
	}
}

// view is what prepare knows of a node: the committed tree overlaid with
// the effects of transactions prepared but not yet applied.
type view struct {
	zxid        int64 // the last prepared txn that changed this view
	exists      bool
	version     int32
	cversion    int32
	aversion    int32
	numChildren int32
	owner       int64
	acl         []jute.ACL
}

type undo struct {
	path string
	prev *view // nil: there was no overlay entry
}

type overlayRecord struct {
	zxid int64
	path string
}

// Preparer turns write requests into idempotent transactions (ZooKeeper's
// PrepRequestProcessor). It reads the tree and an overlay of changes
// prepared but not yet applied, so a request sees every earlier write even
// while those are still being committed.
//
// Contract:
//  1. One goroutine calls Prepare*, Applied and Tree.Apply; no other
//     goroutine mutates the tree.
//  2. Transactions are applied in the order they were prepared.
//  3. After applying the txn with zxid z, the caller calls Applied(z).
type Preparer struct {
	t       *Tree
	overlay map[string]*view
	order   []overlayRecord // overlay entries in zxid order, for Applied
	undo    []undo          // overlay changes of the multi being prepared
	inMulti bool
	zxid    int64

	// ExtendedTypes enables TTL nodes (zoo.cfg extendedTypesEnabled).
	ExtendedTypes bool
}

// NewPreparer returns a Preparer over t whose next zxid follows lastZxid.
func NewPreparer(t *Tree, lastZxid int64) *Preparer {
	return &Preparer{t: t, overlay: make(map[string]*view), zxid: lastZxid}
}

// SetZxid sets the last assigned zxid (a new epoch starts at epoch<<32).
func (p *Preparer) SetZxid(z int64) { p.zxid = z }

// LastZxid returns the last zxid assigned.
func (p *Preparer) LastZxid() int64 { return p.zxid }

// Pending returns the number of overlay entries (for tests and metrics).
func (p *Preparer) Pending() int { return len(p.overlay) }

// Discard forgets every prepared but unapplied change and rewinds the zxid
// to lastApplied: the batch that held them failed to commit, so the tree
// will never see them.
func (p *Preparer) Discard(lastApplied int64) {
	clear(p.overlay)
	p.order = p.order[:0]
	p.undo = p.undo[:0]
	p.zxid = lastApplied
}

// Applied drops overlay entries whose last change has been applied.
func (p *Preparer) Applied(zxid int64) {
	i := 0
	for ; i < len(p.order) && p.order[i].zxid <= zxid; i++ {
		rec := p.order[i]
		if v, ok := p.overlay[rec.path]; ok && v.zxid <= zxid {
			delete(p.overlay, rec.path)
		}
	}
	if i > 0 {
		p.order = append(p.order[:0], p.order[i:]...)
	}
}

func (p *Preparer) get(path string) (view, bool) {
	if v, ok := p.overlay[path]; ok {
		return *v, v.exists
	}
	n, ok := p.t.Get(path)
	if !ok {
		return view{}, false
	}
	x := n.t.node(n.id)
	return view{
		exists: true, version: x.version, cversion: x.cversion, aversion: x.aversion,
		numChildren: x.numChildren, owner: x.owner, acl: n.ACL(),
	}, true
}

func (p *Preparer) set(path string, v view) {
	if p.inMulti {
		prev := p.overlay[path]
		if prev != nil {
			cp := *prev
			prev = &cp
		}
		p.undo = append(p.undo, undo{path: path, prev: prev})
	}
	v.zxid = p.zxid
	p.overlay[path] = &v
	p.order = append(p.order, overlayRecord{zxid: p.zxid, path: path})
}

func (p *Preparer) rollback() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		u := p.undo[i]
		if u.prev == nil {
			delete(p.overlay, u.path)
		} else {
			p.overlay[u.path] = u.prev
		}
	}
	p.undo = p.undo[:0]
}

func (p *Preparer) header(r *Request, now int64) Txn {
	p.zxid++
	return Txn{Zxid: p.zxid, Time: now, Session: r.Session, Cxid: r.Cxid, Type: r.Op}
}

// Prepare turns one write request into a transaction with a new zxid. A
// request that fails its checks becomes an error transaction (and a multi
// whose op fails becomes a multi of error transactions), as in ZooKeeper.
func (p *Preparer) Prepare(r *Request, now int64) Txn {
	x := p.header(r, now)
	err := jute.ErrBadArguments
	if hasBody(r) {
		err = p.prepare(r, &x)
	}
	if err != jute.ErrOK {
		x = Txn{Zxid: x.Zxid, Time: x.Time, Session: x.Session, Cxid: x.Cxid, Type: jute.OpError, Err: err}
	}
	return x
}

// hasBody reports whether r carries the body its op needs.
func hasBody(r *Request) bool {
	switch r.Op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return r.Create != nil
	case jute.OpDelete, jute.OpDeleteContainer, jute.OpCheck:
		return r.Delete != nil
	case jute.OpSetData:
		return r.SetData != nil
	case jute.OpSetACL:
		return r.SetACL != nil
	case jute.OpMulti:
		return r.Multi != nil
	}
	return true
}

// prepare fills x for r; a multi always succeeds here (its failure is in
// its sub-transactions).
func (p *Preparer) prepare(r *Request, x *Txn) jute.Err {
	switch r.Op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return p.prepCreate(r.Op, r.Create, r, x)
	case jute.OpDelete, jute.OpDeleteContainer:
		return p.prepDelete(r.Op, r.Delete, r, x)
	case jute.OpSetData:
		return p.prepSetData(r.SetData, r, x)
	case jute.OpSetACL:
		return p.prepSetACL(r.SetACL, r, x)
	case jute.OpCheck:
		return p.prepCheck(r.Delete, r, x)
	case jute.OpMulti:
		p.prepMulti(r, x)
	case jute.OpCreateSession:
		x.Timeout = r.Timeout
	case jute.OpCloseSession:
		x.Paths = p.sessionEphemerals(r.Session)
		for _, path := range x.Paths {
			p.markDeleted(path)
		}
	case jute.OpReconfig:
		// Dynamic reconfiguration is not supported; like a ZooKeeper
		// without reconfigEnabled, the request becomes an error txn.
		return jute.ErrReconfigDisabled
	default:
		return jute.ErrBadArguments
	}
	return jute.ErrOK
}

// sessionEphemerals lists the session's ephemerals as prepare sees them:
// those in the tree and those prepared, less those prepared for deletion.
func (p *Preparer) sessionEphemerals(session int64) []string {
	seen := make(map[string]struct{})
	var out []string
	for _, path := range p.t.Ephemerals(session) {
		if v, ok := p.get(path); ok && v.owner == session {
			seen[path] = struct{}{}
			out = append(out, path)
		}
	}
	for path, v := range p.overlay {
		if _, dup := seen[path]; !dup && v.exists && v.owner == session {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (p *Preparer) markDeleted(path string) {
	parentPath, _ := SplitPath(path)
	if parent, ok := p.get(parentPath); ok {
		parent.numChildren--
		p.set(parentPath, parent)
	}
	p.set(path, view{exists: false})
}

// checkVersion is ZooKeeper's checkAndIncVersion.
func checkVersion(current, expected int32) (int32, jute.Err) {
	if expected != -1 && expected != current {
		return 0, jute.ErrBadVersion
	}
	return current + 1, jute.ErrOK
}

// isSpecialPath names the nodes that can never be deleted.
func isSpecialPath(path string) bool {
	return path == "/" || path == "/zookeeper" || path == "/zookeeper/quota" || path == "/zookeeper/config"
}

// parentOf is ZooKeeper's cheap parent split for create and delete
// (validatePathForCreate, getParentPathAndValidate): everything before the
// last "/", with "" meaning the root. ok is false when the path has no "/"
// or holds a NUL: BadArguments. The full path check comes later (create)
// or never (delete: a malformed path is simply not found).
func parentOf(path string) (parent string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 || strings.IndexByte(path, 0) >= 0 {
		return "", false
	}
	if i == 0 {
		return "/", true
	}
	return path[:i], true
}

// prepCreate checks a create in ZooKeeper's order (pRequest2TxnCreate):
// flags, TTL rules, the cheap path split, the ACL, the parent, CREATE on
// the parent, then the full path (after the sequential suffix), existence
// and an ephemeral parent.
func (p *Preparer) prepCreate(op jute.Op, c *jute.CreateRequest, r *Request, x *Txn) jute.Err {
	mode := c.Flags
	if mode < jute.ModePersistent || mode > jute.ModePersistentSequentialWithTTL {
		return jute.ErrBadArguments
	}
	isTTL := mode == jute.ModePersistentWithTTL || mode == jute.ModePersistentSequentialWithTTL
	sequential := mode == jute.ModePersistentSequential || mode == jute.ModeEphemeralSequential || mode == jute.ModePersistentSequentialWithTTL
	ephemeral := mode == jute.ModeEphemeral || mode == jute.ModeEphemeralSequential
	if isTTL && !p.ExtendedTypes {
		return jute.ErrUnimplemented
	}
	ttl := int64(-1)
	if op == jute.OpCreateTTL {
		ttl = c.TTL
	}
	if isTTL {
		if ttl <= 0 || ttl > jute.TTLMax {
			return jute.ErrBadArguments
		}
	} else if op == jute.OpCreateTTL {
		// ZooKeeper refuses ttl >= 0 here, but accepts ttl < 0 and then
		// crashes applying it (DESIGN.md); we refuse every createTTL
		// whose mode is not a TTL mode.
		return jute.ErrBadArguments
	}
	path := c.Path
	parentPath, ok := parentOf(path)
	if !ok {
		return jute.ErrBadArguments
	}
	acl, ok := FixupACL(c.ACL, r.Auth)
	if !ok {
		return jute.ErrInvalidACL
	}
	parent, ok := p.get(parentPath)
	if !ok {
		return jute.ErrNoNode
	}
	if !CheckACL(parent.acl, jute.PermCreate, r.Auth) {
		return jute.ErrNoAuth
	}
	if sequential {
		path += fmt.Sprintf("%010d", parent.cversion)
	}
	if !ValidatePath(path, false) {
		return jute.ErrBadArguments
	}
	if _, exists := p.get(path); exists {
		return jute.ErrNodeExists
	}
	if jute.IsEphemeralOwner(parent.owner) {
		return jute.ErrNoChildrenForEphemerals
	}
	// The opcode decides the kind, as in ZooKeeper's txns: createContainer
	// makes a container whatever the flags, and a plain create with the
	// container flag makes a persistent node.
	var owner int64
	switch {
	case op == jute.OpCreateContainer:
		owner = jute.ContainerEphemeralOwner
	case op == jute.OpCreateTTL:
		owner = jute.TTLOwner(ttl)
	case ephemeral:
		owner = r.Session
	}
	parent.cversion++
	parent.numChildren++
	// Null data stays null: ZooKeeper keeps it, and getData answers a
	// null buffer (length -1) for it, not an empty one.
	x.Path, x.Data, x.ACL, x.Owner, x.Version = path, c.Data, acl, owner, parent.cversion
	p.set(parentPath, parent)
	p.set(path, view{exists: true, owner: owner, acl: acl})
	return jute.ErrOK
}

// prepDelete checks a delete in ZooKeeper's order: the cheap path split
// and the special nodes, the parent, DELETE on the parent, the node, its
// version, its children. deleteContainer (the container and TTL reaper)
// skips the ACL and version checks and refuses a real ephemeral with
// BadVersion, as ZooKeeper does.
func (p *Preparer) prepDelete(op jute.Op, d *jute.PathVersionRequest, r *Request, x *Txn) jute.Err {
	path := d.Path
	parentPath, ok := parentOf(path)
	if !ok || isSpecialPath(path) {
		return jute.ErrBadArguments
	}
	if op == jute.OpDeleteContainer {
		n, ok := p.get(path)
		if !ok {
			return jute.ErrNoNode
		}
		if n.numChildren > 0 {
			return jute.ErrNotEmpty
		}
		if jute.IsEphemeralOwner(n.owner) {
			return jute.ErrBadVersion
		}
		if _, ok := p.get(parentPath); !ok {
			return jute.ErrNoNode
		}
	} else {
		parent, ok := p.get(parentPath)
		if !ok {
			return jute.ErrNoNode
		}
		if !CheckACL(parent.acl, jute.PermDelete, r.Auth) {
			return jute.ErrNoAuth
		}
		n, ok := p.get(path)
		if !ok {
			return jute.ErrNoNode
		}
		if _, err := checkVersion(n.version, d.Version); err != jute.ErrOK {
			return err
		}
		if n.numChildren > 0 {
			return jute.ErrNotEmpty
		}
	}
	x.Path = path
	p.markDeleted(path)
	return jute.ErrOK
}

func (p *Preparer) prepSetData(s *jute.SetDataRequest, r *Request, x *Txn) jute.Err {
	if !ValidatePath(s.Path, false) {
		return jute.ErrBadArguments
	}
	n, ok := p.get(s.Path)
	if !ok {
		return jute.ErrNoNode
	}
	if !CheckACL(n.acl, jute.PermWrite, r.Auth) {
		return jute.ErrNoAuth
	}
	v, err := checkVersion(n.version, s.Version)
	if err != jute.ErrOK {
		return err
	}
	n.version = v
	x.Path, x.Data, x.Version = s.Path, s.Data, v // null stays null, as in ZooKeeper
	p.set(s.Path, n)
	return jute.ErrOK
}

func (p *Preparer) prepSetACL(s *jute.SetACLRequest, r *Request, x *Txn) jute.Err {
	if !ValidatePath(s.Path, false) {
		return jute.ErrBadArguments
	}
	acl, ok := FixupACL(s.ACL, r.Auth)
	if !ok {
		return jute.ErrInvalidACL
	}
	n, ok := p.get(s.Path)
	if !ok {
		return jute.ErrNoNode
	}
	if !CheckACL(n.acl, jute.PermAdmin, r.Auth) {
		return jute.ErrNoAuth
	}
	v, err := checkVersion(n.aversion, s.Version)
	if err != jute.ErrOK {
		return err
	}
	n.aversion, n.acl = v, acl
	x.Path, x.ACL, x.Version = s.Path, acl, v
	p.set(s.Path, n)
	return jute.ErrOK
}

func (p *Preparer) prepCheck(c *jute.PathVersionRequest, r *Request, x *Txn) jute.Err {
	if !ValidatePath(c.Path, false) {
		return jute.ErrBadArguments
	}
	n, ok := p.get(c.Path)
	if !ok {
		return jute.ErrNoNode
	}
	if !CheckACL(n.acl, jute.PermRead, r.Auth) {
		return jute.ErrNoAuth
	}
	if _, err := checkVersion(n.version, c.Version); err != jute.ErrOK {
		return err
	}
	x.Path, x.Version = c.Path, c.Version
	return jute.ErrOK
}

// prepMulti prepares every op in order against the overlay. On the first
// failure it undoes the overlay changes of the earlier ops, and the multi
// becomes all error txns: OK before the failure, the failure's code, then
// RuntimeInconsistency, which is what ZooKeeper reports.
func (p *Preparer) prepMulti(r *Request, x *Txn) {
	ops := r.Multi.Ops
	x.Ops = make([]Txn, len(ops))
	p.inMulti = true
	p.undo = p.undo[:0]
	failed := -1
	for i := range ops {
		op := &ops[i]
		sub := &x.Ops[i]
		sub.Type = op.Op
		var err jute.Err
		switch op.Op {
		case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			err = p.prepCreate(op.Op, &op.Create, r, sub)
		case jute.OpDelete:
			err = p.prepDelete(op.Op, &op.Delete, r, sub)
		case jute.OpSetData:
			err = p.prepSetData(&op.SetData, r, sub)
		case jute.OpCheck:
			err = p.prepCheck(&op.Delete, r, sub)
		default:
			err = jute.ErrBadArguments
		}
		if err != jute.ErrOK {
			failed = i
			x.Ops[i] = Txn{Type: jute.OpError, Err: err}
			break
		}
	}
	p.inMulti = false
	defer func() {
		// Sub-transactions carry the multi's header, as DecodeTxn gives
		// them back.
		for i := range x.Ops {
			sub := &x.Ops[i]
			sub.Zxid, sub.Time, sub.Session, sub.Cxid = x.Zxid, x.Time, x.Session, x.Cxid
		}
	}()
	if failed < 0 {
		p.undo = p.undo[:0]
		return
	}
	p.rollback()
	for i := range x.Ops {
		switch {
		case i < failed:
			x.Ops[i] = Txn{Type: jute.OpError, Err: jute.ErrOK}
		case i > failed:
			x.Ops[i] = Txn{Type: jute.OpError, Err: jute.ErrRuntimeInconsistency}
		}
	}
}
