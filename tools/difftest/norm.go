package difftest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"zkd/netio/jute"
)

// timeSlack bounds how far a ctime or mtime may be from the run's wall
// clock to count as "now".
const timeSlack = time.Hour

// zxid maps a server's zxid to a server-independent token: its offset
// from the zxid that created the namespace. Older zxids (of "/" or
// /zookeeper, or of earlier sequences) are only "old".
func (r *run) zxid(z int64) string {
	switch {
	case z == 0 || z == -1:
		return strconv.FormatInt(z, 10)
	case z >= r.base:
		return "b+" + strconv.FormatInt(z-r.base, 10)
	case z > 0:
		return "old"
	}
	return "neg"
}

// path replaces the namespace prefix by "~", and quotes a path that is
// not printable UTF-8 so that differences in its bytes show.
func (r *run) path(p string) string {
	switch {
	case p == r.ns:
		p = "~"
	case strings.HasPrefix(p, r.ns+"/"):
		p = "~" + p[len(r.ns):]
	}
	if !utf8.ValidString(p) || strings.ContainsFunc(p, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return strconv.Quote(p)
	}
	return p
}

func (r *run) owner(o int64) string {
	switch {
	case o == 0:
		return "0"
	case o == jute.ContainerEphemeralOwner:
		return "container"
	case jute.IsTTLOwner(o):
		return "ttl:" + strconv.FormatInt(jute.TTLOf(o), 10)
	}
	if n, ok := r.names[o]; ok {
		return n
	}
	return fmt.Sprintf("other:%#x", uint64(o))
}

func (r *run) when(t int64) string {
	if t == 0 {
		return "0"
	}
	d := time.Since(time.UnixMilli(t))
	if d < -timeSlack || d > timeSlack {
		return "far"
	}
	return "now"
}

func (r *run) stat(s *jute.Stat) string {
	times := r.when(s.Ctime) + "/" + r.when(s.Mtime)
	if s.Mtime < s.Ctime {
		times += "!mtime<ctime"
	}
	return fmt.Sprintf("{c=%s m=%s p=%s v=%d cv=%d av=%d eo=%s dl=%d nc=%d t=%s}",
		r.zxid(s.Czxid), r.zxid(s.Mzxid), r.zxid(s.Pzxid), s.Version, s.Cversion, s.Aversion,
		r.owner(s.EphemeralOwner), s.DataLength, s.NumChildren, times)
}

func dataString(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) <= 16 {
		return fmt.Sprintf("%q", b)
	}
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("len%d#%x", len(b), h.Sum64())
}

func (r *run) names2(v []string, sorted bool) string {
	if v == nil {
		return "null"
	}
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = r.path(s)
	}
	if sorted {
		slices.Sort(out)
	}
	return "[" + strings.Join(out, ",") + "]"
}

func aclString(acl []jute.ACL) string {
	if acl == nil {
		return "null"
	}
	parts := make([]string, len(acl))
	for i, a := range acl {
		parts[i] = fmt.Sprintf("%d:%s:%s", a.Perms, a.ID.Scheme, a.ID.ID)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// storedACLString renders an ACL as a server returns it. An "auth" entry
// is stored as one entry per identity of the session, in the order of
// ZooKeeper's ConcurrentHashMap of identities, that is no order; so runs
// of adjacent entries with the same perms are sorted.
func storedACLString(acl []jute.ACL) string {
	acl = slices.Clone(acl)
	for i := 0; i < len(acl); {
		j := i + 1
		for j < len(acl) && acl[j].Perms == acl[i].Perms {
			j++
		}
		slices.SortFunc(acl[i:j], func(a, b jute.ACL) int {
			return strings.Compare(a.ID.Scheme+":"+a.ID.ID, b.ID.Scheme+":"+b.ID.ID)
		})
		i = j
	}
	return aclString(acl)
}

// body normalises a decoded reply body.
func (r *run) body(op jute.Op, resp jute.Record) string {
	switch v := resp.(type) {
	case *jute.PathResponse:
		return "path=" + r.path(v.Path)
	case *jute.Create2Response:
		return "path=" + r.path(v.Path) + " " + r.stat(&v.Stat)
	case *jute.StatResponse:
		return r.stat(&v.Stat)
	case *jute.GetDataResponse:
		return "data=" + dataString(v.Data) + " " + r.stat(&v.Stat)
	case *jute.StringsResponse:
		// getChildren is in hash order, getEphemerals in set order.
		return r.names2(v.Strings, true)
	case *jute.GetChildren2Response:
		return r.names2(v.Children, true) + " " + r.stat(&v.Stat)
	case *jute.GetACLResponse:
		return "acl=" + storedACLString(v.ACL) + " " + r.stat(&v.Stat)
	case *jute.IntResponse:
		return "n=" + strconv.Itoa(int(v.N))
	case *jute.WhoAmIResponse:
		if v.Infos == nil {
			return "who=null"
		}
		parts := make([]string, len(v.Infos))
		for i, c := range v.Infos {
			parts[i] = c.AuthScheme + ":" + c.User
		}
		slices.Sort(parts) // ZooKeeper keeps auth ids in a hash set
		return "who=[" + strings.Join(parts, ",") + "]"
	case *jute.MultiResponse:
		parts := make([]string, len(v.Results))
		for i := range v.Results {
			parts[i] = r.multiResult(&v.Results[i])
		}
		return "results=[" + strings.Join(parts, "; ") + "]"
	}
	return fmt.Sprintf("%T", resp)
}

func (r *run) multiResult(m *jute.MultiResult) string {
	switch m.Op {
	case jute.OpError:
		return "error(" + m.Err.String() + ")"
	case jute.OpCreate:
		return "create(" + r.path(m.Path) + ")"
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return m.Op.String() + "(" + r.path(m.Path) + " " + r.stat(&m.Stat) + ")"
	case jute.OpSetData:
		return "setData(" + r.stat(&m.Stat) + ")"
	case jute.OpGetData:
		return "getData(" + dataString(m.Data) + " " + r.stat(&m.Stat) + ")"
	case jute.OpGetChildren:
		return "getChildren(" + r.names2(m.Children, true) + ")"
	}
	return m.Op.String()
}

// resolve turns a template path into the path sent to this server.
func (r *run) resolve(p string) string {
	switch {
	case strings.HasPrefix(p, "~"):
		return r.ns + p[1:]
	case strings.HasPrefix(p, "@"):
		rest := ""
		ref := p[1:]
		if i := strings.IndexByte(ref, '/'); i >= 0 {
			ref, rest = ref[:i], ref[i:]
		}
		idStr, kStr, _ := strings.Cut(ref, ".")
		id, err1 := strconv.Atoi(idStr)
		k := 0
		var err2 error
		if kStr != "" {
			k, err2 = strconv.Atoi(kStr)
		}
		if err1 == nil && err2 == nil {
			if paths := r.results[id]; k < len(paths) && paths[k] != "" {
				return paths[k] + rest
			}
		}
		return r.ns + "/@missing" + rest
	}
	return p
}

// resolveReq copies req with its paths resolved.
func (r *run) resolveReq(req jute.Record) jute.Record {
	return mapPaths(req, r.resolve)
}

// mapPaths returns a copy of req with f applied to every path.
func mapPaths(req jute.Record, f func(string) string) jute.Record {
	each := func(v []string) []string {
		if v == nil {
			return nil
		}
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = f(s)
		}
		return out
	}
	switch v := req.(type) {
	case *jute.CreateRequest:
		c := *v
		c.Path = f(c.Path)
		return &c
	case *jute.PathRequest:
		return &jute.PathRequest{Path: f(v.Path)}
	case *jute.PathWatchRequest:
		return &jute.PathWatchRequest{Path: f(v.Path), Watch: v.Watch}
	case *jute.PathVersionRequest:
		return &jute.PathVersionRequest{Path: f(v.Path), Version: v.Version}
	case *jute.PathTypeRequest:
		return &jute.PathTypeRequest{Path: f(v.Path), Type: v.Type}
	case *jute.SetDataRequest:
		c := *v
		c.Path = f(c.Path)
		return &c
	case *jute.SetACLRequest:
		c := *v
		c.Path = f(c.Path)
		return &c
	case *jute.SetWatches:
		c := *v
		c.DataWatches, c.ExistWatches, c.ChildWatches = each(v.DataWatches), each(v.ExistWatches), each(v.ChildWatches)
		c.PersistentWatches, c.PersistentRecursive = each(v.PersistentWatches), each(v.PersistentRecursive)
		return &c
	case *jute.MultiRequest:
		c := &jute.MultiRequest{Ops: make([]jute.MultiOp, len(v.Ops))}
		for i, op := range v.Ops {
			op.Create.Path = f(op.Create.Path)
			op.Delete.Path = f(op.Delete.Path)
			op.SetData.Path = f(op.SetData.Path)
			op.Read.Path = f(op.Read.Path)
			c.Ops[i] = op
		}
		return c
	}
	return req
}

// checkSafe refuses the requests that crash or hang Apache ZooKeeper
// 3.8.0 (DESIGN.md); a differential sequence must never hold them.
func checkSafe(st *Step) error {
	badTTL := func(c *jute.CreateRequest) bool {
		return c.HasTTL && c.Flags != jute.ModePersistentWithTTL && c.Flags != jute.ModePersistentSequentialWithTTL && c.TTL < 0
	}
	switch v := st.Req.(type) {
	case *jute.CreateRequest:
		if st.Op == jute.OpCreateTTL && badTTL(v) {
			return errors.New("difftest: createTTL with a non-TTL mode and a negative ttl")
		}
	case *jute.PathVersionRequest:
		if st.Op == jute.OpCheck {
			return errors.New("difftest: stand-alone check")
		}
	case *jute.PathTypeRequest:
		if (st.Op == jute.OpAddWatch && v.Type != 0 && v.Type != 1) ||
			(st.Op != jute.OpAddWatch && (v.Type < 1 || v.Type > 5)) {
			return errors.New("difftest: unknown watcher type or addWatch mode")
		}
	case *jute.MultiRequest:
		for i := range v.Ops {
			op := &v.Ops[i]
			if op.Op == jute.OpCreateTTL {
				c := op.Create
				c.HasTTL = true
				if badTTL(&c) {
					return errors.New("difftest: createTTL in multi with a non-TTL mode and a negative ttl")
				}
			}
		}
	}
	if st.Op == jute.OpCheck {
		return errors.New("difftest: stand-alone check")
	}
	return nil
}

// Describe renders a step's request (with template paths) for reports.
func Describe(st *Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "s%d ", st.S)
	switch st.Kind {
	case KindReconnect:
		b.WriteString("reconnect")
		return b.String()
	case KindClose:
		b.WriteString("closeSession")
		return b.String()
	case KindPing:
		b.WriteString("ping")
		return b.String()
	case KindBatch:
		fmt.Fprintf(&b, "batch of %d", len(st.Batch))
		return b.String()
	}
	b.WriteString(st.Op.String())
	switch v := st.Req.(type) {
	case *jute.CreateRequest:
		fmt.Fprintf(&b, " %q data=%s acl=%s mode=%d", v.Path, dataString(v.Data), aclString(v.ACL), v.Flags)
		if v.HasTTL {
			fmt.Fprintf(&b, " ttl=%d", v.TTL)
		}
	case *jute.PathRequest:
		fmt.Fprintf(&b, " %q", v.Path)
	case *jute.PathWatchRequest:
		fmt.Fprintf(&b, " %q watch=%v", v.Path, v.Watch)
	case *jute.PathVersionRequest:
		fmt.Fprintf(&b, " %q version=%d", v.Path, v.Version)
	case *jute.PathTypeRequest:
		fmt.Fprintf(&b, " %q type=%d", v.Path, v.Type)
	case *jute.SetDataRequest:
		fmt.Fprintf(&b, " %q data=%s version=%d", v.Path, dataString(v.Data), v.Version)
	case *jute.SetACLRequest:
		fmt.Fprintf(&b, " %q acl=%s version=%d", v.Path, aclString(v.ACL), v.Version)
	case *jute.AuthPacket:
		fmt.Fprintf(&b, " type=%d scheme=%q auth=%q", v.Type, v.Scheme, v.Auth)
	case *jute.SetWatches:
		rel := "lastSeen"
		if !st.Rel.LastSeen {
			rel = "b+" + strconv.FormatInt(st.Rel.Plus, 10)
		}
		fmt.Fprintf(&b, " rel=%s data=%s exist=%s child=%s", rel, quoteList(v.DataWatches), quoteList(v.ExistWatches), quoteList(v.ChildWatches))
		if v.Two {
			fmt.Fprintf(&b, " persistent=%s recursive=%s", quoteList(v.PersistentWatches), quoteList(v.PersistentRecursive))
		}
	case *jute.MultiRequest:
		parts := make([]string, len(v.Ops))
		for i := range v.Ops {
			op := &v.Ops[i]
			switch op.Op {
			case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
				s := fmt.Sprintf("%s %q data=%s acl=%s mode=%d", op.Op, op.Create.Path, dataString(op.Create.Data), aclString(op.Create.ACL), op.Create.Flags)
				if op.Op == jute.OpCreateTTL {
					s += fmt.Sprintf(" ttl=%d", op.Create.TTL)
				}
				parts[i] = s
			case jute.OpDelete, jute.OpCheck:
				parts[i] = fmt.Sprintf("%s %q version=%d", op.Op, op.Delete.Path, op.Delete.Version)
			case jute.OpSetData:
				parts[i] = fmt.Sprintf("setData %q data=%s version=%d", op.SetData.Path, dataString(op.SetData.Data), op.SetData.Version)
			default:
				parts[i] = fmt.Sprintf("%s %q", op.Op, op.Read.Path)
			}
		}
		b.WriteString(" [" + strings.Join(parts, "; ") + "]")
	}
	return b.String()
}

func quoteList(v []string) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", v)
}
