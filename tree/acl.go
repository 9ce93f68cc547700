package tree

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode"

	"zkd/netio/jute"
)

// Well-known ACLs (ZooDefs.Ids).
var (
	AnyoneID       = jute.ID{Scheme: "world", ID: "anyone"}
	OpenACLUnsafe  = []jute.ACL{{Perms: jute.PermAll, ID: AnyoneID}}
	ReadACLUnsafe  = []jute.ACL{{Perms: jute.PermRead, ID: AnyoneID}}
	SuperID        = jute.ID{Scheme: "super", ID: ""}
	authSchemeName = "auth"
)

// DigestOf returns the digest id for "user:password", as
// DigestAuthenticationProvider.generateDigest: user:base64(sha1(user:password)).
func DigestOf(userPassword string) string {
	user, _, _ := strings.Cut(userPassword, ":")
	sum := sha1.Sum([]byte(userPassword))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// aclCache interns ACL lists: nodes hold a uint32 reference, so a million
// nodes with the same ACL share one list. Index 0 is unused.
type aclCache struct {
	lists [][]jute.ACL
	refs  []int64
	index map[string]uint32
	free  []uint32
}

func newACLCache() aclCache {
	return aclCache{lists: make([][]jute.ACL, 1), refs: make([]int64, 1), index: make(map[string]uint32)}
}

// aclKey is the interning key of an ACL list: every field length-prefixed,
// so that no two different lists share a key (perms are full int32s, and
// schemes and ids may hold any byte, NUL included).
func aclKey(acl []jute.ACL) string {
	var b []byte
	for _, a := range acl {
		b = binary.BigEndian.AppendUint32(b, uint32(a.Perms))
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.ID.Scheme)))
		b = append(b, a.ID.Scheme...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.ID.ID)))
		b = append(b, a.ID.ID...)
	}
	return string(b)
}

func (c *aclCache) intern(acl []jute.ACL) uint32 {
	key := aclKey(acl)
	if ref, ok := c.index[key]; ok {
		c.refs[ref]++
		return ref
	}
	cp := append([]jute.ACL(nil), acl...)
	var ref uint32
	if n := len(c.free); n > 0 {
		ref = c.free[n-1]
		c.free = c.free[:n-1]
		c.lists[ref], c.refs[ref] = cp, 1
	} else {
		ref = uint32(len(c.lists))
		c.lists = append(c.lists, cp)
		c.refs = append(c.refs, 1)
	}
	c.index[key] = ref
	return ref
}

func (c *aclCache) release(ref uint32) {
	if ref == 0 {
		return
	}
	c.refs[ref]--
	if c.refs[ref] == 0 {
		delete(c.index, aclKey(c.lists[ref]))
		c.lists[ref] = nil
		c.free = append(c.free, ref)
	}
}

func (c *aclCache) get(ref uint32) []jute.ACL { return c.lists[ref] }

// CheckACL reports whether a session with the given identities holds perm
// on a node with acl, as ZooKeeper's checkACL: an empty ACL allows all, the
// super identity allows all.
func CheckACL(acl []jute.ACL, perm int32, ids []jute.ID) bool {
	if len(acl) == 0 {
		return true
	}
	for _, id := range ids {
		if id.Scheme == "super" {
			return true
		}
	}
	for _, a := range acl {
		if a.Perms&perm == 0 {
			continue
		}
		if a.ID.Scheme == "world" && a.ID.ID == "anyone" {
			return true
		}
		for _, id := range ids {
			if id.Scheme != a.ID.Scheme {
				continue
			}
			switch id.Scheme {
			case "ip":
				if ipMatches(id.ID, a.ID.ID) {
					return true
				}
			case "digest", "sasl", "x509":
				if id.ID == a.ID.ID {
					return true
				}
			}
			// Any other scheme has no server provider in ZooKeeper (world
			// other than anyone, super, auth): it never matches.
		}
	}
	return false
}

// ipMatches reports whether client address addr falls in acl id (an
// address or address/bits), as IPAuthenticationProvider.matches in
// ZooKeeper 3.8: IPv4 only, the first bits bits compared.
func ipMatches(addr, aclID string) bool {
	aclAddr, bits, ok := parseIPACL(aclID)
	if !ok {
		return false
	}
	remote, ok := parseIPv4(addr)
	if !ok {
		return false
	}
	if bits == 0 {
		return true
	}
	mask := ^uint32(0) << (32 - bits)
	return remote&mask == aclAddr&mask
}

// validIPACL is IPAuthenticationProvider.isValid.
func validIPACL(id string) bool {
	_, _, ok := parseIPACL(id)
	return ok
}

// parseIPACL parses "a.b.c.d" or "a.b.c.d/bits" the way ZooKeeper 3.8
// does: IPv4 only (an IPv6 ACL is InvalidACL there), each part and the
// bits parsed by Java's Integer.parseInt.
func parseIPACL(id string) (addr uint32, bits int, ok bool) {
	a, b, hasBits := strings.Cut(id, "/")
	if addr, ok = parseIPv4(a); !ok {
		return 0, 0, false
	}
	bits = 32
	if hasBits {
		n, ok := javaParseInt(b)
		if !ok || n < 0 || n > 32 {
			return 0, 0, false
		}
		bits = int(n)
	}
	return addr, bits, true
}

// parseIPv4 is IPAuthenticationProvider.v4addr2Bytes: exactly four parts
// separated by ".", each a Java integer in 0..255 (so "01" and "+1" pass).
func parseIPv4(s string) (uint32, bool) {
	var addr uint32
	for i := 0; i < 4; i++ {
		part := s
		if i < 3 {
			var found bool
			part, s, found = strings.Cut(s, ".")
			if !found {
				return 0, false
			}
		} else if strings.Contains(s, ".") {
			return 0, false
		}
		v, ok := javaParseInt(part)
		if !ok || v < 0 || v > 255 {
			return 0, false
		}
		addr = addr<<8 | uint32(v)
	}
	return addr, true
}

// javaParseInt is Integer.parseInt(s, 10): an optional ASCII sign, then at
// least one decimal digit (any Unicode decimal digit in the Basic
// Multilingual Plane, as Character.digit accepts), within int32.
func javaParseInt(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var v int64
	for _, r := range s {
		d, ok := decimalDigit(r)
		if !ok {
			return 0, false
		}
		v = v*10 + int64(d)
		if v > 1<<31 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 {
		return 0, false
	}
	return v, true
}

// decimalDigit returns the value of a decimal digit (Unicode category Nd,
// BMP only: Java sees anything above as two surrogate chars). Nd digits
// come in runs of ten starting at zero, so the value is the distance from
// the start of the run, modulo ten.
func decimalDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r > 0xffff || !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	for start > 0 && unicode.IsDigit(start-1) {
		start--
	}
	return int(r-start) % 10, true
}

// FixupACL validates an ACL from create or setACL and expands the "auth"
// scheme into the session's authenticated identities, as ZooKeeper's
// PrepRequestProcessor.fixupACL: duplicates in the request are removed
// first; the expansion itself may then repeat an entry (ZooKeeper keeps
// such repeats, and so do we). ok is false for InvalidACL.
func FixupACL(acl []jute.ACL, ids []jute.ID) (out []jute.ACL, ok bool) {
	uniq := removeDuplicateACLs(acl)
	if len(uniq) == 0 {
		return nil, false
	}
	out = make([]jute.ACL, 0, len(uniq))
	for _, a := range uniq {
		switch {
		case a.ID.Scheme == "world" && a.ID.ID == "anyone":
			out = append(out, a)
		case a.ID.Scheme == authSchemeName:
			found := false
			for _, id := range ids {
				// Only identities from authenticating schemes qualify:
				// ip is not one, and super has no provider.
				if id.Scheme == "digest" || id.Scheme == "sasl" || id.Scheme == "x509" {
					out = append(out, jute.ACL{Perms: a.Perms, ID: id})
					found = true
				}
			}
			if !found {
				return nil, false
			}
		case a.ID.Scheme == "digest":
			if !validDigestACL(a.ID.ID) {
				return nil, false
			}
			out = append(out, a)
		case a.ID.Scheme == "ip":
			if !validIPACL(a.ID.ID) {
				return nil, false
			}
			out = append(out, a)
		default:
			// world with another id, and every scheme without a server
			// provider (ZooKeeper registers only ip and digest).
			return nil, false
		}
	}
	return out, true
}

// removeDuplicateACLs keeps the first of equal entries, in order. Short
// lists (the usual case) are scanned; a long one, which a hostile request
// can send, goes through a set so the cost stays linear.
func removeDuplicateACLs(acl []jute.ACL) []jute.ACL {
	const scanMax = 16
	out := make([]jute.ACL, 0, len(acl))
	if len(acl) <= scanMax {
	next:
		for _, a := range acl {
			for _, b := range out {
				if a == b {
					continue next
				}
			}
			out = append(out, a)
		}
		return out
	}
	seen := make(map[jute.ACL]struct{}, len(acl))
	for _, a := range acl {
		if _, dup := seen[a]; !dup {
			seen[a] = struct{}{}
			out = append(out, a)
		}
	}
	return out
}

// validDigestACL mirrors Java's id.split(":").length == 2, where split drops
// trailing empty strings.
func validDigestACL(id string) bool {
	parts := strings.Split(id, ":")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return len(parts) == 2
}
