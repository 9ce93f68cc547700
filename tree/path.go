package tree

import (
	"strings"
	"unicode/utf8"
)

// ValidatePath reports whether path is a legal znode path, with
// ZooKeeper's rules (PathUtils.validatePath): absolute, no trailing slash
// (except "/"), no empty, "." or ".." segment, no NUL and none of the
// characters ZooKeeper reserves: U+0001-U+001F, U+007F-U+009F,
// U+D800-U+F8FF and U+FFF0-U+FFFF. Java checks UTF-16 code units, so a
// character outside the Basic Multilingual Plane (a surrogate pair there)
// is refused too, and so are invalid UTF-8 bytes (Java decodes them to
// U+FFFD). A sequential create may end in "/" (the suffix is appended), so
// ValidatePath(path, true) checks path+"1".
func ValidatePath(path string, sequential bool) bool {
	if sequential {
		path += "1"
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	if len(path) == 1 {
		return true
	}
	if path[len(path)-1] == '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		seg := path[segStart:i]
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		segStart = i + 1
	}
	for _, r := range path {
		if r == utf8.RuneError || r <= 0x1f ||
			(r >= 0x7f && r <= 0x9f) ||
			(r >= 0xd800 && r <= 0xf8ff) || r >= 0xfff0 {
			return false
		}
	}
	return true
}

// SplitPath returns the parent path and the last segment of a valid path.
// The parent of a top-level node is "/"; "/" has parent "" and name "".
func SplitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", path
	}
	if i == 0 {
		if len(path) == 1 {
			return "", ""
		}
		return "/", path[1:]
	}
	return path[:i], path[i+1:]
}

// JoinPath joins a parent path and a child name.
func JoinPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}
