package jute

// MultiOp is one operation of a multi or multiRead request. Exactly one of
// the request fields matching Op is set.
type MultiOp struct {
	Op      Op
	Create  CreateRequest      // create, create2, createContainer, createTTL
	Delete  PathVersionRequest // delete, check
	SetData SetDataRequest     // setData
	Read    PathWatchRequest   // getData, getChildren (multiRead)
}

// Path returns the path the op names.
func (m *MultiOp) Path() string {
	switch m.Op {
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
		return m.Create.Path
	case OpDelete, OpCheck:
		return m.Delete.Path
	case OpSetData:
		return m.SetData.Path
	default:
		return m.Read.Path
	}
}

// MultiRequest is the body of multi (14) and multiRead (22).
type MultiRequest struct {
	Ops []MultiOp
}

// maxMultiOps bounds the ops of one multi: each op takes at least 13 bytes
// on the wire, so the frame limit bounds it already; this is a second guard.
const maxMultiOps = 1 << 20

func (x *MultiRequest) Encode(w *Writer) {
	for i := range x.Ops {
		op := &x.Ops[i]
		h := MultiHeader{Type: op.Op, Done: false, Err: -1}
		h.Encode(w)
		switch op.Op {
		case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
			c := op.Create // a copy: Encode must not write to the caller's record
			c.HasTTL = op.Op == OpCreateTTL
			c.Encode(w)
		case OpDelete, OpCheck:
			op.Delete.Encode(w)
		case OpSetData:
			op.SetData.Encode(w)
		case OpGetData, OpGetChildren:
			// multiRead ops are whole GetDataRequest/GetChildrenRequest
			// records (path and a watch flag the server ignores).
			op.Read.Encode(w)
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(w)
}

// Decode reads ops until the done header. An op type that is not allowed
// in a multi leaves ErrUnsupportedOp in the Reader.
func (x *MultiRequest) Decode(r *Reader) {
	x.Ops = x.Ops[:0]
	for r.err == nil {
		var h MultiHeader
		h.Decode(r)
		if r.err != nil || h.Done {
			return
		}
		if len(x.Ops) >= maxMultiOps {
			r.fail(ErrShort)
			return
		}
		op := MultiOp{Op: h.Type}
		switch h.Type {
		case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
			op.Create.HasTTL = h.Type == OpCreateTTL
			op.Create.Decode(r)
		case OpDelete, OpCheck:
			op.Delete.Decode(r)
		case OpSetData:
			op.SetData.Decode(r)
		case OpGetData, OpGetChildren:
			op.Read.Decode(r)
		default:
			r.fail(ErrUnsupportedOp)
			return
		}
		x.Ops = append(x.Ops, op)
	}
}

// ErrUnsupportedOp marks a multi that contains an op a multi cannot hold.
var ErrUnsupportedOp = errUnsupportedOp{}

type errUnsupportedOp struct{}

func (errUnsupportedOp) Error() string { return "jute: op not allowed in multi" }

// MultiResult is one result of a multi or multiRead response. Op is the
// result type: the request's op on success, OpError with Err otherwise.
type MultiResult struct {
	Op       Op
	Err      Err
	Path     string   // create, create2
	Stat     Stat     // create2, setData, getData
	Data     []byte   // getData
	Children []string // getChildren
}

// MultiResponse is the body of a multi or multiRead reply.
type MultiResponse struct {
	Results []MultiResult
}

func (x *MultiResponse) Encode(w *Writer) {
	for i := range x.Results {
		res := &x.Results[i]
		h := MultiHeader{Type: res.Op, Done: false, Err: res.Err}
		if res.Op != OpError {
			h.Err = 0
		}
		h.Encode(w)
		switch res.Op {
		case OpCreate:
			w.String(res.Path)
		case OpCreate2, OpCreateContainer, OpCreateTTL:
			w.String(res.Path)
			res.Stat.Encode(w)
		case OpSetData:
			res.Stat.Encode(w)
		case OpGetData:
			w.Buffer(res.Data)
			res.Stat.Encode(w)
		case OpGetChildren:
			w.Strings(res.Children)
		case OpError:
			w.Int(int32(res.Err))
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(w)
}

func (x *MultiResponse) Decode(r *Reader) {
	x.Results = x.Results[:0]
	for r.err == nil {
		var h MultiHeader
		h.Decode(r)
		if r.err != nil || h.Done {
			return
		}
		if len(x.Results) >= maxMultiOps {
			r.fail(ErrShort)
			return
		}
		// A successful result's header error means nothing (Java ignores
		// it; Encode writes 0), so only an error result keeps one.
		res := MultiResult{Op: h.Type}
		switch h.Type {
		case OpCreate:
			res.Path = r.String()
		case OpCreate2, OpCreateContainer, OpCreateTTL:
			res.Path = r.String()
			res.Stat.Decode(r)
		case OpSetData:
			res.Stat.Decode(r)
		case OpGetData:
			res.Data = r.Buffer()
			res.Stat.Decode(r)
		case OpGetChildren:
			res.Children = r.Strings()
		case OpError:
			res.Err = Err(r.Int())
		case OpDelete, OpCheck:
		default:
			r.fail(ErrUnsupportedOp)
			return
		}
		x.Results = append(x.Results, res)
	}
}
