package difftest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KnownBug is an open zkd bug that the differential test tolerates until
// it is fixed: a difference it matches is counted and logged, not failed.
// Remove the entry when the bug is fixed. DIVERGENCES.md lists the
// differences that are deliberate and permanent (Divergences), which are
// a different thing.
type KnownBug struct {
	ID      string
	Summary string
	Match   func(m *Mismatch) bool
	// Stateless: the difference leaves both servers in the same state (a
	// wrong reply body or code, an extra event), so comparison goes on
	// after it; otherwise the rest of the sequence is not compared.
	Stateless bool
	// Fix, for a stateless bug that can show together with others in one
	// answer, rewrites m.Zkd into what zkd would answer without this bug
	// and reports whether it changed anything. Match is not used then.
	Fix func(m *Mismatch) bool
}

// KnownBugs is the temporary skip-list, keyed by bug id. The minimal
// repro of each is a scenario in scenario_test.go (or a case of
// TestConnect), named by its bug field.
var KnownBugs = []KnownBug{}

// emptyPathArg finds a path argument "" in a label (not data="").
var emptyPathArg = regexp.MustCompile(`(?:^s\d+ \w+ |[\[ ;])""(?:[\] ;]|$)`)

// knownBug reports whether id is on the skip-list.
func knownBug(id string) bool {
	return slices.ContainsFunc(KnownBugs, func(k KnownBug) bool { return k.ID == id })
}

func classify(m *Mismatch) (id string, stateless bool) {
	for _, k := range KnownBugs {
		if k.Match != nil && k.Match(m) {
			return k.ID, k.Stateless
		}
	}
	return "", false
}

// op returns the op word of a label ("s1 create \"~/a\" ..." -> "create").
func (m *Mismatch) op() string {
	f := strings.Fields(m.Label)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// isSubsequence reports whether sub is of with some elements left out.
func isSubsequence(sub, of []string) bool {
	i := 0
	for _, s := range of {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

// multiOps splits a multi label into its ops ("create \"~/a\" ... mode=1").
func multiOps(label string) []string {
	i, j := strings.IndexByte(label, '['), strings.LastIndexByte(label, ']')
	if i < 0 || j <= i {
		return nil
	}
	return strings.Split(label[i+1:j], "; ")
}

// multiOpMode returns a multi op's name and create mode (-100 if none).
func multiOpMode(op string) (name string, mode int) {
	name, _, _ = strings.Cut(op, " ")
	mode = -100
	if k := strings.LastIndex(op, " mode="); k >= 0 {
		f := strings.Fields(op[k+len(" mode="):])
		if len(f) > 0 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				mode = v
			}
		}
	}
	return name, mode
}

var quotedString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// asJavaDecodes rewrites every quoted path in s as Java would have read
// it: invalid UTF-8 replaced by U+FFFD (then quoted again only if still
// not printable, as run.path does).
func asJavaDecodes(s string) string {
	return quotedString.ReplaceAllStringFunc(s, func(q string) string {
		u, err := strconv.Unquote(q)
		if err != nil || utf8.ValidString(u) {
			return q
		}
		u = strings.ToValidUTF8(u, "\uFFFD")
		if strings.ContainsFunc(u, func(c rune) bool { return !unicode.IsPrint(c) }) {
			return strconv.Quote(u)
		}
		return u
	})
}
