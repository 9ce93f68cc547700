package tree

import (
	"testing"
	"unicode/utf8"
)

func TestValidatePath(t *testing.T) {
	tests := []struct {
		path       string
		sequential bool
		want       bool
	}{
		{"/", false, true},
		{"/a", false, true},
		{"/a/b/c", false, true},
		{"/zookeeper/quota", false, true},
		{"/a b", false, true},
		{"/a.b", false, true},
		{"/.a", false, true},
		{"/a.", false, true},
		{"/..a", false, true},
		{"/a..", false, true},
		{"/...", false, true},
		{"/a/.../b", false, true},
		{"/é", false, true},      // two UTF-8 bytes, one Java char
		{"/\u00a0", false, true}, // just above the C1 controls
		{"/\u00a1", false, true}, //
		{"/\u007e", false, true}, // '~', just below DEL
		{"/\ud7ff", false, true}, // just below the surrogates
		{"/\uf900", false, true}, // just above the private use area
		{"/\uffef", false, true}, // just below the specials
		{"/" + string(rune(0x20)), false, true},

		{"", false, false},
		{"a", false, false},
		{"a/b", false, false},
		{"/a/", false, false},
		{"//", false, false},
		{"//a", false, false},
		{"/a//b", false, false},
		{"/.", false, false},
		{"/..", false, false},
		{"/a/.", false, false},
		{"/a/..", false, false},
		{"/a/./b", false, false},
		{"/a/../b", false, false},
		{"/./a", false, false},
		{"/a\x00b", false, false},
		{"/\x00", false, false},
		{"/a\x01", false, false},
		{"/a\x1f", false, false},
		{"/a\x7f", false, false},
		{"/a\u0080", false, false},
		{"/a\u009f", false, false},
		{"/a\ue000", false, false},       // private use
		{"/a\uf8ff", false, false},       // last private use
		{"/a\ufff0", false, false},       // specials
		{"/a\ufffd", false, false},       // replacement character
		{"/a\uffff", false, false},       // noncharacter
		{"/a\U0001F600", false, false},   // emoji: a surrogate pair in Java
		{"/a\U00010000", false, false},   // first supplementary code point
		{"/a\xff", false, false},         // invalid UTF-8 (Java: U+FFFD)
		{"/a\xed\xa0\x80", false, false}, // UTF-8-encoded surrogate
		{"/a\xc0\xaf", false, false},     // overlong '/'

		// Sequential: path+"1" must be valid.
		{"/", true, true},
		{"/a/", true, true},
		{"/a/b-", true, true},
		{"/a", true, true},
		{"", true, false},
		{"a/", true, false},
		{"//", true, false},
		{"/a//", true, false},
		{"/.", true, true},   // "/.1"
		{"/./", true, false}, // "/./1"
		{"/a/../", true, false},
	}
	for _, tc := range tests {
		if got := ValidatePath(tc.path, tc.sequential); got != tc.want {
			t.Errorf("ValidatePath(%q, %v) = %v, want %v", tc.path, tc.sequential, got, tc.want)
		}
	}
}

// TestValidatePathEveryBMPChar checks the character rule against a direct
// transcription of PathUtils.validatePath's ranges for every code point.
func TestValidatePathEveryBMPChar(t *testing.T) {
	for r := rune(1); r <= 0x10ffff; r++ {
		if r == '/' || r == '.' {
			continue
		}
		if !utf8.ValidRune(r) {
			continue // surrogates cannot be UTF-8 encoded
		}
		javaInvalid := r <= 0x1f || (r >= 0x7f && r <= 0x9f) ||
			(r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) ||
			r > 0xffff // two surrogate chars in Java
		path := "/x" + string(r) + "y"
		if got := ValidatePath(path, false); got == javaInvalid {
			t.Fatalf("ValidatePath(%q) (U+%04X) = %v, want %v", path, r, got, !javaInvalid)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct{ path, parent, name string }{
		{"/", "", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
		{"/zookeeper/config", "/zookeeper", "config"},
		{"a", "", "a"},
	}
	for _, tc := range tests {
		parent, name := SplitPath(tc.path)
		if parent != tc.parent || name != tc.name {
			t.Errorf("SplitPath(%q) = %q, %q; want %q, %q", tc.path, parent, name, tc.parent, tc.name)
		}
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ parent, name, want string }{
		{"/", "a", "/a"},
		{"/a", "b", "/a/b"},
		{"/a/b", "c", "/a/b/c"},
	}
	for _, tc := range tests {
		if got := JoinPath(tc.parent, tc.name); got != tc.want {
			t.Errorf("JoinPath(%q, %q) = %q, want %q", tc.parent, tc.name, got, tc.want)
		}
		// JoinPath and SplitPath invert each other on valid paths.
		if parent, name := SplitPath(tc.want); parent != tc.parent || name != tc.name {
			t.Errorf("SplitPath(JoinPath(%q, %q)) = %q, %q", tc.parent, tc.name, parent, name)
		}
	}
}

func TestParentOf(t *testing.T) {
	tests := []struct {
		path, parent string
		ok           bool
	}{
		{"/", "/", true},
		{"/a", "/", true},
		{"/a/b", "/a", true},
		{"/a/", "/a", true},
		{"//", "/", true},
		{"a/b", "a", true},
		{"", "", false},
		{"a", "", false},
		{"/a\x00", "", false},
	}
	for _, tc := range tests {
		parent, ok := parentOf(tc.path)
		if parent != tc.parent || ok != tc.ok {
			t.Errorf("parentOf(%q) = %q, %v; want %q, %v", tc.path, parent, ok, tc.parent, tc.ok)
		}
	}
}
