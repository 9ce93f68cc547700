package tree

import (
	"crypto/sha1"
	"encoding/base64"
	"net/netip"
	"strings"

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

func aclKey(acl []jute.ACL) string {
	var b strings.Builder
	for _, a := range acl {
		b.WriteByte(byte(a.Perms))
		b.WriteString(a.ID.Scheme)
		b.WriteByte(0)
		b.WriteString(a.ID.ID)
		b.WriteByte(0)
	}
	return b.String()
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
			default:
				if id.ID == a.ID.ID {
					return true
				}
			}
		}
	}
	return false
}

// ipMatches reports whether client address addr falls in acl id (an
// address or address/bits).
func ipMatches(addr, aclID string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	if strings.Contains(aclID, "/") {
		p, err := netip.ParsePrefix(aclID)
		return err == nil && p.Masked().Contains(a)
	}
	b, err := netip.ParseAddr(aclID)
	return err == nil && a == b
}

func validIPACL(id string) bool {
	if strings.Contains(id, "/") {
		_, err := netip.ParsePrefix(id)
		return err == nil
	}
	_, err := netip.ParseAddr(id)
	return err == nil
}

// FixupACL validates an ACL from create or setACL and expands the "auth"
// scheme into the session's authenticated identities, removing duplicates,
// as ZooKeeper's fixupACL. ok is false for InvalidACL.
func FixupACL(acl []jute.ACL, ids []jute.ID) (out []jute.ACL, ok bool) {
	if len(acl) == 0 {
		return nil, false
	}
	seen := make(map[jute.ACL]struct{}, len(acl))
	add := func(a jute.ACL) {
		if _, dup := seen[a]; !dup {
			seen[a] = struct{}{}
			out = append(out, a)
		}
	}
	for _, a := range acl {
		switch a.ID.Scheme {
		case "world":
			if a.ID.ID != "anyone" {
				return nil, false
			}
			add(a)
		case authSchemeName:
			found := false
			for _, id := range ids {
				// Only identities from authenticating schemes qualify: ip is not one.
				if id.Scheme == "digest" || id.Scheme == "sasl" || id.Scheme == "x509" {
					add(jute.ACL{Perms: a.Perms, ID: id})
					found = true
				}
			}
			if !found {
				return nil, false
			}
		case "digest":
			if !validDigestACL(a.ID.ID) {
				return nil, false
			}
			add(a)
		case "ip":
			if !validIPACL(a.ID.ID) {
				return nil, false
			}
			add(a)
		default:
			return nil, false
		}
	}
	return out, true
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
