package difftest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"zkd/bench/wire"
	"zkd/netio/jute"
)

// Time bounds of the runner. Every network wait has one.
const (
	callTimeout     = 5 * time.Second
	dialTimeout     = 5 * time.Second
	sessionTimeout  = 30 * time.Second
	closeProbeWait  = 300 * time.Millisecond
	cleanupNodesMax = 10000
)

// Target is one server under test. Its admin session (authenticated as
// super) creates each sequence's namespace and removes it afterwards. A
// Target runs one sequence at a time.
type Target struct {
	Name  string
	Addr  string
	admin *wire.Conn
}

// Close ends the admin session.
func (tg *Target) Close() {
	if tg.admin != nil {
		_ = tg.admin.SetDeadline(time.Now().Add(callTimeout))
		_ = tg.admin.CloseSession()
		tg.admin = nil
	}
}

func (tg *Target) adminConn() (*wire.Conn, error) {
	if tg.admin != nil {
		return tg.admin, nil
	}
	c, err := wire.Dial(tg.Addr, wire.Options{Timeout: sessionTimeout, DialTimeout: dialTimeout})
	if err != nil {
		return nil, fmt.Errorf("difftest: %s admin dial: %w", tg.Name, err)
	}
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	h, err := c.CallXid(jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte(superAuth)}, nil)
	if err == nil && h.Err != jute.ErrOK {
		err = h.Err
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("difftest: %s admin auth: %w", tg.Name, err)
	}
	tg.admin = c
	return c, nil
}

// adminCall runs one admin request, re-dialling once if the connection
// broke.
func (tg *Target) adminCall(op jute.Op, req, resp jute.Record) (jute.ReplyHeader, error) {
	for attempt := 0; ; attempt++ {
		c, err := tg.adminConn()
		if err != nil {
			return jute.ReplyHeader{}, err
		}
		_ = c.SetDeadline(time.Now().Add(callTimeout))
		h, err := c.Call(op, req, resp)
		if err == nil || attempt > 0 {
			return h, err
		}
		c.Close()
		tg.admin = nil
	}
}

// Transcript is what one server answered to one sequence: Answers[i]
// answers Labels[i]; the first len(Steps) entries are the steps, the
// rest the epilogue (a ping, then closeSession, on every open session).
type Transcript struct {
	Labels  []string
	Answers []Answer
	// Step[i] is the index in Sequence.Steps of the step entry i answers,
	// or -1 for the runner's own pings and the epilogue.
	Step []int
	// Batch[i] is "batch j/n" when entry i was sent pipelined, else "".
	Batch []string
	// Setup is non-nil when the namespace could not be created.
	Setup error
	// Cleanup is non-nil when the namespace could not be removed.
	Cleanup error
}

type slot struct {
	c        *wire.Conn
	id       int64
	passwd   []byte
	gen      int
	lastZxid int64
}

type run struct {
	tg      *Target
	ns      string
	base    int64
	maxZxid int64
	slots   [slotsMax]slot
	names   map[int64]string // session id -> "S<slot>.<generation>"
	results map[int][]string // step id -> created paths (op index for multi)
}

// RunSequence runs seq on tg inside namespace ns (a fresh top-level path,
// the same on every server) and returns the normalised transcript.
func RunSequence(tg *Target, seq *Sequence, ns string) *Transcript {
	tr := &Transcript{}
	r := &run{tg: tg, ns: ns, names: map[int64]string{}, results: map[int][]string{}}
	var h jute.ReplyHeader
	h, err := tg.adminCall(jute.OpCreate, &jute.CreateRequest{Path: ns, ACL: openACL}, &jute.PathResponse{})
	if err == nil && h.Err != jute.ErrOK {
		err = h.Err
	}
	if err != nil {
		tr.Setup = fmt.Errorf("difftest: %s create %s: %w", tg.Name, ns, err)
		return tr
	}
	r.base, r.maxZxid = h.Zxid, h.Zxid
	stepIdx := -1
	add := func(label string, a Answer) {
		tr.Labels = append(tr.Labels, label)
		tr.Answers = append(tr.Answers, a)
		tr.Step = append(tr.Step, stepIdx)
		tr.Batch = append(tr.Batch, "")
	}
	for i := range seq.Steps {
		st := &seq.Steps[i]
		stepIdx = i
		if st.Kind == KindBatch {
			for j, a := range r.execBatch(st) {
				add(Describe(&st.Batch[j]), a)
				tr.Batch[len(tr.Batch)-1] = fmt.Sprintf("batch %d/%d", j+1, len(st.Batch))
			}
			continue
		}
		add(Describe(st), r.exec(st))
		stepIdx = -1
		if st.Kind == KindClose {
			r.afterClose(st.S, add)
		}
	}
	stepIdx = -1
	for s := range r.slots {
		if r.slots[s].id != 0 {
			add(fmt.Sprintf("s%d ping (epilogue)", s), r.exec(&Step{ID: -1, S: s, Kind: KindPing, Op: jute.OpPing}))
		}
	}
	for s := range r.slots {
		if r.slots[s].id != 0 {
			add(fmt.Sprintf("s%d closeSession (epilogue)", s), r.exec(&Step{ID: -1, S: s, Kind: KindClose, Op: jute.OpCloseSession}))
			r.afterClose(s, add)
		}
	}
	tr.Cleanup = r.cleanup()
	return tr
}

// afterClose pings every other connected session right after slot s
// closed its session, so that the events the close fired (the deletion of
// its ephemerals) are recorded apart from later ones. Their order within
// the close is Java HashSet order in ZooKeeper, so they are sorted.
func (r *run) afterClose(s int, add func(string, Answer)) {
	for o := range r.slots {
		if o != s && r.slots[o].c != nil {
			a := r.exec(&Step{ID: -1, S: o, Kind: KindPing, Op: jute.OpPing})
			slices.Sort(a.Events)
			add(fmt.Sprintf("s%d ping (after s%d closed)", o, s), a)
		}
	}
}

// cleanup removes the namespace as super.
func (r *run) cleanup() error {
	budget := cleanupNodesMax
	var del func(p string) error
	del = func(p string) error {
		if budget--; budget < 0 {
			return errors.New("difftest: cleanup: too many nodes")
		}
		var kids jute.StringsResponse
		h, err := r.tg.adminCall(jute.OpGetChildren, &jute.PathWatchRequest{Path: p}, &kids)
		if err != nil {
			return err
		}
		if h.Err == jute.ErrNoNode {
			return nil
		}
		for _, k := range kids.Strings {
			if err := del(p + "/" + k); err != nil {
				return err
			}
		}
		h, err = r.tg.adminCall(jute.OpDelete, &jute.PathVersionRequest{Path: p, Version: -1}, nil)
		if err == nil && h.Err != jute.ErrOK && h.Err != jute.ErrNoNode {
			err = fmt.Errorf("delete %s: %w", p, h.Err)
		}
		return err
	}
	if err := del(r.ns); err != nil {
		return fmt.Errorf("difftest: %s cleanup %s: %w", r.tg.Name, r.ns, err)
	}
	// Nodes created outside the namespace ("/" or "/zookeeper" with a
	// sequential suffix) go too, so later sequences see the same tree.
	for _, paths := range r.results {
		for _, p := range paths {
			if p != "" && p != r.ns && !strings.HasPrefix(p, r.ns+"/") {
				if err := del(p); err != nil {
					return fmt.Errorf("difftest: %s cleanup %s: %w", r.tg.Name, p, err)
				}
			}
		}
	}
	return nil
}

// conn returns the slot's connection, opening a session (or resuming the
// slot's session after a broken connection) when it has none.
func (r *run) conn(s int) (*wire.Conn, string, error) {
	sl := &r.slots[s]
	if sl.c != nil {
		return sl.c, "", nil
	}
	if sl.id != 0 {
		c, err := wire.Dial(r.tg.Addr, wire.Options{Timeout: sessionTimeout, DialTimeout: dialTimeout, SessionID: sl.id, Passwd: sl.passwd})
		if err == nil {
			sl.c = c
			return c, "[resumed]", nil
		}
		sl.id = 0
		if !errors.Is(err, jute.ErrSessionExpired) {
			return nil, "", err
		}
	}
	c, err := wire.Dial(r.tg.Addr, wire.Options{Timeout: sessionTimeout, DialTimeout: dialTimeout})
	if err != nil {
		return nil, "", err
	}
	sl.gen++
	sl.c, sl.id, sl.passwd, sl.lastZxid = c, c.SessionID, c.Passwd, 0
	r.names[c.SessionID] = fmt.Sprintf("S%d.%d", s, sl.gen)
	return c, "", nil
}

func (r *run) drop(s int) {
	if c := r.slots[s].c; c != nil {
		c.Close()
		r.slots[s].c = nil
	}
}

// Answer is one normalised answer. Its String is what is compared.
type Answer struct {
	Note   string   // how the connection was obtained ("[resumed]")
	Events []string // watch events that arrived before the reply
	Code   string   // error code, or a transport outcome ("conn-error: closed")
	Zxid   string   // reply zxid, normalised
	Body   string   // decoded body, normalised
	After  string   // what followed: "then-closed", problems ("!...")
}

func (a Answer) String() string {
	parts := make([]string, 0, 6+len(a.Events))
	if a.Note != "" {
		parts = append(parts, a.Note)
	}
	parts = append(parts, a.Events...)
	parts = append(parts, a.Code)
	if a.Zxid != "" {
		parts = append(parts, "zxid="+a.Zxid)
	}
	if a.Body != "" {
		parts = append(parts, a.Body)
	}
	if a.After != "" {
		parts = append(parts, a.After)
	}
	return strings.Join(parts, " ")
}

// exec runs one step and returns its normalised answer.
func (r *run) exec(st *Step) Answer {
	if err := checkSafe(st); err != nil {
		panic(err) // a generator bug: never send what kills the reference
	}
	if st.Kind == KindReconnect {
		sl := &r.slots[st.S]
		note := ""
		if sl.id == 0 {
			note = "no session; "
		}
		r.drop(st.S)
		_, n2, err := r.conn(st.S)
		if err != nil {
			return Answer{Note: note, Code: "dial error: " + errClass(err)}
		}
		return Answer{Note: note + n2, Code: "connected"}
	}
	c, note, err := r.conn(st.S)
	if err != nil {
		return Answer{Code: "dial error: " + errClass(err)}
	}
	xid := int32(0)
	var req jute.Record
	if st.Req != nil {
		req = r.resolveReq(st.Req)
	}
	switch st.Kind {
	case KindPing:
		xid = jute.XidPing
	case KindAuth:
		xid = jute.XidAuth
	case KindSetWatches:
		xid = jute.XidSetWatches
		sw := req.(*jute.SetWatches)
		if st.Rel.LastSeen {
			sw.RelativeZxid = r.slots[st.S].lastZxid
		} else {
			sw.RelativeZxid = r.base + st.Rel.Plus
		}
	}
	resp := respFor(st.Op)
	rt := r.roundTrip(st.S, c, xid, st.Op, req, resp)
	out := rt.answer(r)
	out.Note = note
	if rt.err == nil && rt.hdr.Err == jute.ErrOK {
		r.noteResults(st, resp)
	}
	if st.Kind == KindClose {
		slices.Sort(out.Events) // the session's own ephemerals, in hash order
		r.drop(st.S)
		r.slots[st.S].id = 0
		return out
	}
	if rt.err != nil {
		r.drop(st.S)
		return out
	}
	if st.Kind == KindAuth && rt.hdr.Err != jute.ErrOK {
		out.After = strings.TrimSpace(out.After + " " + r.probeClosed(st.S))
	}
	return out
}

// execBatch sends the batch's requests back to back on one connection
// (pipelined), then reads their replies in order. A read queued behind a
// write of the same session must see it (FIFO per session).
func (r *run) execBatch(st *Step) []Answer {
	out := make([]Answer, len(st.Batch))
	c, note, err := r.conn(st.S)
	if err != nil {
		for i := range out {
			out[i] = Answer{Code: "dial error: " + errClass(err)}
		}
		return out
	}
	type sent struct {
		xid  int32
		resp jute.Record
		err  error
	}
	sends := make([]sent, len(st.Batch))
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	for i := range st.Batch {
		sub := &st.Batch[i]
		if err := checkSafe(sub); err != nil || sub.Kind != KindCall {
			panic(fmt.Sprintf("difftest: batch holds %s: %v", Describe(sub), err))
		}
		req := r.resolveReq(sub.Req)
		sends[i].resp = respFor(sub.Op)
		sends[i].xid, sends[i].err = c.Send(sub.Op, req)
	}
	ferr := c.Flush()
	paths := make([]string, len(st.Batch))
	broken := false
	for i := range st.Batch {
		sub := &st.Batch[i]
		if broken || sends[i].err != nil || ferr != nil {
			// A write error means the server closed the connection (it
			// does on a frame over jute.maxbuffer); the replies are lost.
			out[i] = Answer{Code: "conn-error: closed"}
			broken = true
			continue
		}
		rt := r.await(st.S, c, sends[i].xid, sub.Op, sends[i].resp)
		out[i] = rt.answer(r)
		if rt.err != nil {
			broken = true
			continue
		}
		if rt.hdr.Err == jute.ErrOK {
			if v, ok := sends[i].resp.(*jute.PathResponse); ok && sub.Op != jute.OpSync {
				paths[i] = v.Path
			} else if v, ok := sends[i].resp.(*jute.Create2Response); ok {
				paths[i] = v.Path
			}
		}
	}
	out[0].Note = note
	r.results[st.ID] = paths
	if broken {
		r.drop(st.S)
	}
	return out
}

// probeClosed reports whether the server closes the connection right
// after a reply (as both do after a failed auth).
func (r *run) probeClosed(s int) string {
	c := r.slots[s].c
	_ = c.SetDeadline(time.Now().Add(closeProbeWait))
	h, _, err := c.Recv()
	switch {
	case err == nil:
		return fmt.Sprintf("then-unexpected-xid-%d", h.Xid)
	case isTimeout(err):
		_ = c.SetDeadline(time.Time{})
		return "then-stays-open"
	default:
		r.drop(s)
		return "then-closed"
	}
}

// noteResults remembers the paths a step created, for "@ID" templates.
func (r *run) noteResults(st *Step, resp jute.Record) {
	if st.ID < 0 {
		return
	}
	switch v := resp.(type) {
	case *jute.PathResponse:
		if st.Op != jute.OpSync {
			r.results[st.ID] = []string{v.Path}
		}
	case *jute.Create2Response:
		r.results[st.ID] = []string{v.Path}
	case *jute.MultiResponse:
		if st.Op == jute.OpMulti {
			paths := make([]string, len(v.Results))
			for i, res := range v.Results {
				paths[i] = res.Path
			}
			r.results[st.ID] = paths
		}
	}
}

func respFor(op jute.Op) jute.Record {
	switch op {
	case jute.OpCreate, jute.OpSync:
		return &jute.PathResponse{}
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return &jute.Create2Response{}
	case jute.OpExists, jute.OpSetData, jute.OpSetACL:
		return &jute.StatResponse{}
	case jute.OpGetData:
		return &jute.GetDataResponse{}
	case jute.OpGetChildren, jute.OpGetEphemerals:
		return &jute.StringsResponse{}
	case jute.OpGetChildren2:
		return &jute.GetChildren2Response{}
	case jute.OpGetACL:
		return &jute.GetACLResponse{}
	case jute.OpGetAllChildrenNumber:
		return &jute.IntResponse{}
	case jute.OpMulti, jute.OpMultiRead:
		return &jute.MultiResponse{}
	case jute.OpWhoAmI:
		return &jute.WhoAmIResponse{}
	}
	return nil
}

func isWriteOp(op jute.Op) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCloseSession:
		return true
	}
	return false
}

// reply is one round trip's raw outcome.
type reply struct {
	op       jute.Op
	hdr      jute.ReplyHeader
	events   []jute.WatcherEvent
	resp     jute.Record
	decoded  bool
	bodyLen  int
	leftover int
	decErr   error
	err      error
	problems []string
}

// roundTrip sends one request and reads up to its reply, keeping the watch
// events that arrive first (in arrival order) and the raw body length.
func (r *run) roundTrip(s int, c *wire.Conn, xid int32, op jute.Op, req, resp jute.Record) *reply {
	rt := &reply{op: op, resp: resp}
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	var err error
	if xid == 0 {
		xid, err = c.Send(op, req)
	} else {
		err = c.SendXid(xid, op, req)
	}
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		rt.err = err
		return rt
	}
	return r.await(s, c, xid, op, resp)
}

// await reads up to the reply with xid, keeping the events before it.
func (r *run) await(s int, c *wire.Conn, xid int32, op jute.Op, resp jute.Record) *reply {
	rt := &reply{op: op, resp: resp}
	var err error
	for err == nil {
		var h jute.ReplyHeader
		var body []byte
		h, body, err = c.Recv()
		if err != nil {
			break
		}
		if h.Xid == jute.XidWatchEvent {
			var ev jute.WatcherEvent
			if derr := jute.Unmarshal(body, &ev); derr != nil {
				rt.problems = append(rt.problems, "bad-event")
			}
			rt.events = append(rt.events, ev)
			continue
		}
		if h.Xid != xid {
			rt.problems = append(rt.problems, fmt.Sprintf("stray-reply-xid-%d", h.Xid))
			continue
		}
		rt.hdr, rt.bodyLen = h, len(body)
		if resp != nil && len(body) > 0 && (h.Err == jute.ErrOK || op == jute.OpMulti || op == jute.OpMultiRead) {
			rd := jute.NewReader(body)
			resp.Decode(rd)
			rt.decErr, rt.leftover, rt.decoded = rd.Err(), rd.Len(), rd.Err() == nil
		}
		break
	}
	rt.err = err
	if err != nil {
		return rt
	}
	_ = c.SetDeadline(time.Time{})
	sl := &r.slots[s]
	if rt.hdr.Zxid > 0 {
		sl.lastZxid = rt.hdr.Zxid
	}
	if isWriteOp(op) && rt.hdr.Err == jute.ErrOK {
		if rt.hdr.Zxid <= r.maxZxid {
			rt.problems = append(rt.problems, "write-zxid-not-increasing")
		}
	}
	if rt.hdr.Zxid > r.maxZxid {
		r.maxZxid = rt.hdr.Zxid
	}
	return rt
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errClass turns a transport error into a server-independent word.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, wire.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, jute.ErrSessionExpired):
		return "session-expired"
	}
	var je jute.Err
	if errors.As(err, &je) {
		return je.String()
	}
	return "error(" + err.Error() + ")"
}

// answer normalises the reply for comparison.
func (rt *reply) answer(r *run) Answer {
	var a Answer
	if rt.err != nil {
		// Events read before a broken connection are not compared: when
		// the server resets the connection (a frame over the limit), the
		// client's kernel may drop what it had received but not yet read.
		a.Code = "conn-error: " + errClass(rt.err)
		return a
	}
	for _, ev := range rt.events {
		a.Events = append(a.Events, fmt.Sprintf("event(%s,%d,%s)", eventName(ev.Type), ev.State, r.path(ev.Path)))
	}
	a.Code, a.Zxid = rt.hdr.Err.String(), r.zxid(rt.hdr.Zxid)
	switch {
	case rt.decErr != nil:
		a.Body = fmt.Sprintf("undecodable-body(%dB)", rt.bodyLen)
	case rt.decoded:
		a.Body = r.body(rt.op, rt.resp)
		if rt.leftover > 0 {
			a.Body += fmt.Sprintf(" +%dB-trailing", rt.leftover)
		}
	case rt.bodyLen > 0:
		a.Body = fmt.Sprintf("body=%dB", rt.bodyLen)
	}
	for _, p := range rt.problems {
		a.After = strings.TrimSpace(a.After + " !" + p)
	}
	return a
}

func eventName(t jute.EventType) string {
	switch t {
	case jute.EventNone:
		return "None"
	case jute.EventNodeCreated:
		return "Created"
	case jute.EventNodeDeleted:
		return "Deleted"
	case jute.EventNodeDataChanged:
		return "DataChanged"
	case jute.EventNodeChildrenChanged:
		return "ChildrenChanged"
	case jute.EventDataWatchRemoved:
		return "DataWatchRemoved"
	case jute.EventChildWatchRemoved:
		return "ChildWatchRemoved"
	case jute.EventPersistentWatchRemoved:
		return "PersistentWatchRemoved"
	}
	return strconv.Itoa(int(t))
}
