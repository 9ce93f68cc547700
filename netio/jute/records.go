package jute

// ID is an ACL identity: a scheme and an id within it.
type ID struct {
	Scheme string
	ID     string
}

func (x *ID) Encode(w *Writer) { w.String(x.Scheme); w.String(x.ID) }
func (x *ID) Decode(r *Reader) { x.Scheme = r.String(); x.ID = r.String() }

// ACL grants Perms to ID.
type ACL struct {
	Perms int32
	ID    ID
}

func (x *ACL) Encode(w *Writer) { w.Int(x.Perms); x.ID.Encode(w) }
func (x *ACL) Decode(r *Reader) { x.Perms = r.Int(); x.ID.Decode(r) }

// ACLs writes a vector<ACL>; nil is written as null.
func (w *Writer) ACLs(v []ACL) {
	if v == nil {
		w.Int(-1)
		return
	}
	w.Int(int32(len(v)))
	for i := range v {
		v[i].Encode(w)
	}
}

// ACLs reads a vector<ACL>.
func (r *Reader) ACLs() []ACL {
	n := r.length(12)
	if n < 0 {
		return nil
	}
	v := make([]ACL, n)
	for i := range v {
		v[i].Decode(r)
	}
	if r.err != nil {
		return nil
	}
	return v
}

// Stat is a znode's metadata as the client sees it.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

func (x *Stat) Encode(w *Writer) {
	w.Long(x.Czxid)
	w.Long(x.Mzxid)
	w.Long(x.Ctime)
	w.Long(x.Mtime)
	w.Int(x.Version)
	w.Int(x.Cversion)
	w.Int(x.Aversion)
	w.Long(x.EphemeralOwner)
	w.Int(x.DataLength)
	w.Int(x.NumChildren)
	w.Long(x.Pzxid)
}

func (x *Stat) Decode(r *Reader) {
	x.Czxid = r.Long()
	x.Mzxid = r.Long()
	x.Ctime = r.Long()
	x.Mtime = r.Long()
	x.Version = r.Int()
	x.Cversion = r.Int()
	x.Aversion = r.Int()
	x.EphemeralOwner = r.Long()
	x.DataLength = r.Int()
	x.NumChildren = r.Int()
	x.Pzxid = r.Long()
}

// ConnectRequest opens or resumes a session. ReadOnly is an optional
// trailing field: old clients omit it.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
}

func (x *ConnectRequest) Encode(w *Writer) {
	w.Int(x.ProtocolVersion)
	w.Long(x.LastZxidSeen)
	w.Int(x.TimeOut)
	w.Long(x.SessionID)
	w.Buffer(x.Passwd)
	w.Bool(x.ReadOnly)
}

func (x *ConnectRequest) Decode(r *Reader) {
	x.ProtocolVersion = r.Int()
	x.LastZxidSeen = r.Long()
	x.TimeOut = r.Int()
	x.SessionID = r.Long()
	x.Passwd = r.Buffer()
	if r.err == nil && r.Len() > 0 {
		x.ReadOnly = r.Bool()
	}
}

// ConnectResponse answers a ConnectRequest. ReadOnly is always written, as
// Apache ZooKeeper does; old clients ignore the extra byte.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
}

func (x *ConnectResponse) Encode(w *Writer) {
	w.Int(x.ProtocolVersion)
	w.Int(x.TimeOut)
	w.Long(x.SessionID)
	w.Buffer(x.Passwd)
	w.Bool(x.ReadOnly)
}

func (x *ConnectResponse) Decode(r *Reader) {
	x.ProtocolVersion = r.Int()
	x.TimeOut = r.Int()
	x.SessionID = r.Long()
	x.Passwd = r.Buffer()
	if r.err == nil && r.Len() > 0 {
		x.ReadOnly = r.Bool()
	}
}

// RequestHeader precedes every request after the connect.
type RequestHeader struct {
	Xid  int32
	Type Op
}

func (x *RequestHeader) Encode(w *Writer) { w.Int(x.Xid); w.Int(int32(x.Type)) }
func (x *RequestHeader) Decode(r *Reader) { x.Xid = r.Int(); x.Type = Op(r.Int()) }

// ReplyHeader precedes every reply and watch event.
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  Err
}

func (x *ReplyHeader) Encode(w *Writer) { w.Int(x.Xid); w.Long(x.Zxid); w.Int(int32(x.Err)) }
func (x *ReplyHeader) Decode(r *Reader) { x.Xid = r.Int(); x.Zxid = r.Long(); x.Err = Err(r.Int()) }

// MultiHeader precedes each op of a multi request and each result of a
// multi response; Type -1 with Done ends the sequence.
type MultiHeader struct {
	Type Op
	Done bool
	Err  Err
}

func (x *MultiHeader) Encode(w *Writer) { w.Int(int32(x.Type)); w.Bool(x.Done); w.Int(int32(x.Err)) }
func (x *MultiHeader) Decode(r *Reader) {
	x.Type = Op(r.Int())
	x.Done = r.Bool()
	x.Err = Err(r.Int())
}

// AuthPacket carries addauth.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

func (x *AuthPacket) Encode(w *Writer) { w.Int(x.Type); w.String(x.Scheme); w.Buffer(x.Auth) }
func (x *AuthPacket) Decode(r *Reader) { x.Type = r.Int(); x.Scheme = r.String(); x.Auth = r.Buffer() }

// WatcherEvent is the body of a notification (xid -1).
type WatcherEvent struct {
	Type  EventType
	State int32
	Path  string
}

func (x *WatcherEvent) Encode(w *Writer) { w.Int(int32(x.Type)); w.Int(x.State); w.String(x.Path) }
func (x *WatcherEvent) Decode(r *Reader) {
	x.Type = EventType(r.Int())
	x.State = r.Int()
	x.Path = r.String()
}

// PathRequest is the shape shared by requests that carry only a path:
// getACL, sync, getAllChildrenNumber, getEphemerals (prefixPath).
type PathRequest struct {
	Path string
}

func (x *PathRequest) Encode(w *Writer) { w.String(x.Path) }
func (x *PathRequest) Decode(r *Reader) { x.Path = r.String() }

// PathWatchRequest is the shape shared by exists, getData, getChildren and
// getChildren2 requests.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

func (x *PathWatchRequest) Encode(w *Writer) { w.String(x.Path); w.Bool(x.Watch) }
func (x *PathWatchRequest) Decode(r *Reader) { x.Path = r.String(); x.Watch = r.Bool() }

// PathVersionRequest is the shape shared by delete and check requests.
type PathVersionRequest struct {
	Path    string
	Version int32
}

func (x *PathVersionRequest) Encode(w *Writer) { w.String(x.Path); w.Int(x.Version) }
func (x *PathVersionRequest) Decode(r *Reader) { x.Path = r.String(); x.Version = r.Int() }

// PathTypeRequest is the shape shared by checkWatches, removeWatches and
// addWatch (where Type is the mode).
type PathTypeRequest struct {
	Path string
	Type int32
}

func (x *PathTypeRequest) Encode(w *Writer) { w.String(x.Path); w.Int(x.Type) }
func (x *PathTypeRequest) Decode(r *Reader) { x.Path = r.String(); x.Type = r.Int() }

// CreateRequest serves create, create2, createContainer and createTTL; TTL
// is on the wire only for createTTL (HasTTL).
type CreateRequest struct {
	Path   string
	Data   []byte
	ACL    []ACL
	Flags  int32
	TTL    int64
	HasTTL bool
}

func (x *CreateRequest) Encode(w *Writer) {
	w.String(x.Path)
	w.Buffer(x.Data)
	w.ACLs(x.ACL)
	w.Int(x.Flags)
	if x.HasTTL {
		w.Long(x.TTL)
	}
}

func (x *CreateRequest) Decode(r *Reader) {
	x.Path = r.String()
	x.Data = r.Buffer()
	x.ACL = r.ACLs()
	x.Flags = r.Int()
	if x.HasTTL {
		x.TTL = r.Long()
	}
}

// SetDataRequest is setData.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

func (x *SetDataRequest) Encode(w *Writer) { w.String(x.Path); w.Buffer(x.Data); w.Int(x.Version) }
func (x *SetDataRequest) Decode(r *Reader) {
	x.Path = r.String()
	x.Data = r.Buffer()
	x.Version = r.Int()
}

// SetACLRequest is setACL.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

func (x *SetACLRequest) Encode(w *Writer) { w.String(x.Path); w.ACLs(x.ACL); w.Int(x.Version) }
func (x *SetACLRequest) Decode(r *Reader) { x.Path = r.String(); x.ACL = r.ACLs(); x.Version = r.Int() }

// SetWatches serves setWatches and setWatches2 (Two: the persistent
// vectors are on the wire).
type SetWatches struct {
	RelativeZxid        int64
	DataWatches         []string
	ExistWatches        []string
	ChildWatches        []string
	PersistentWatches   []string
	PersistentRecursive []string
	Two                 bool
}

func (x *SetWatches) Encode(w *Writer) {
	w.Long(x.RelativeZxid)
	w.Strings(x.DataWatches)
	w.Strings(x.ExistWatches)
	w.Strings(x.ChildWatches)
	if x.Two {
		w.Strings(x.PersistentWatches)
		w.Strings(x.PersistentRecursive)
	}
}

func (x *SetWatches) Decode(r *Reader) {
	x.RelativeZxid = r.Long()
	x.DataWatches = r.Strings()
	x.ExistWatches = r.Strings()
	x.ChildWatches = r.Strings()
	if x.Two {
		x.PersistentWatches = r.Strings()
		x.PersistentRecursive = r.Strings()
	}
}

// StatResponse is the shape shared by exists, setData and setACL replies.
type StatResponse struct {
	Stat Stat
}

func (x *StatResponse) Encode(w *Writer) { x.Stat.Encode(w) }
func (x *StatResponse) Decode(r *Reader) { x.Stat.Decode(r) }

// PathResponse is the shape shared by create and sync replies.
type PathResponse struct {
	Path string
}

func (x *PathResponse) Encode(w *Writer) { w.String(x.Path) }
func (x *PathResponse) Decode(r *Reader) { x.Path = r.String() }

// Create2Response answers create2, createContainer and createTTL.
type Create2Response struct {
	Path string
	Stat Stat
}

func (x *Create2Response) Encode(w *Writer) { w.String(x.Path); x.Stat.Encode(w) }
func (x *Create2Response) Decode(r *Reader) { x.Path = r.String(); x.Stat.Decode(r) }

// GetDataResponse answers getData.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

func (x *GetDataResponse) Encode(w *Writer) { w.Buffer(x.Data); x.Stat.Encode(w) }
func (x *GetDataResponse) Decode(r *Reader) { x.Data = r.Buffer(); x.Stat.Decode(r) }

// StringsResponse is the shape shared by getChildren and getEphemerals
// replies.
type StringsResponse struct {
	Strings []string
}

func (x *StringsResponse) Encode(w *Writer) { w.Strings(x.Strings) }
func (x *StringsResponse) Decode(r *Reader) { x.Strings = r.Strings() }

// GetChildren2Response answers getChildren2.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

func (x *GetChildren2Response) Encode(w *Writer) { w.Strings(x.Children); x.Stat.Encode(w) }
func (x *GetChildren2Response) Decode(r *Reader) { x.Children = r.Strings(); x.Stat.Decode(r) }

// GetACLResponse answers getACL.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

func (x *GetACLResponse) Encode(w *Writer) { w.ACLs(x.ACL); x.Stat.Encode(w) }
func (x *GetACLResponse) Decode(r *Reader) { x.ACL = r.ACLs(); x.Stat.Decode(r) }

// IntResponse is the shape of getAllChildrenNumber and error replies.
type IntResponse struct {
	N int32
}

func (x *IntResponse) Encode(w *Writer) { w.Int(x.N) }
func (x *IntResponse) Decode(r *Reader) { x.N = r.Int() }

// ClientInfo is one identity in a whoAmI reply.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmIResponse answers whoAmI.
type WhoAmIResponse struct {
	Infos []ClientInfo
}

func (x *WhoAmIResponse) Encode(w *Writer) {
	if x.Infos == nil {
		w.Int(-1)
		return
	}
	w.Int(int32(len(x.Infos)))
	for _, c := range x.Infos {
		w.String(c.AuthScheme)
		w.String(c.User)
	}
}

func (x *WhoAmIResponse) Decode(r *Reader) {
	n := r.length(8)
	if n < 0 {
		x.Infos = nil
		return
	}
	x.Infos = make([]ClientInfo, n)
	for i := range x.Infos {
		x.Infos[i].AuthScheme = r.String()
		x.Infos[i].User = r.String()
	}
	if r.err != nil {
		x.Infos = nil
	}
}
