package tree

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports are what STYLE.md keeps out of the pure core: no
// network, no files or processes, no wall clock (zxid and time come in the
// txn), no global randomness, no gnet, no pebble. A path is forbidden when
// it equals an entry or lies below it.
var forbiddenImports = []string{
	"net",
	"os",
	"time",
	"math/rand",
	"github.com/panjf2000/gnet",
	"github.com/cockroachdb/pebble",
}

// TestPureCore parses the package's non-test files and fails on a
// forbidden import or a go statement (the tree starts no goroutines).
func TestPureCore(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
			}
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s: imports %q; tree/ is a pure core (STYLE.md: no %s)", fset.Position(imp.Pos()), path, bad)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement; tree/ starts no goroutines", fset.Position(g.Pos()))
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no non-test Go files found")
	}
}

func TestForbiddenImportMatching(t *testing.T) {
	bad := func(path string) bool {
		for _, b := range forbiddenImports {
			if path == b || strings.HasPrefix(path, b+"/") {
				return true
			}
		}
		return false
	}
	for path, want := range map[string]bool{
		"net": true, "net/netip": true, "os": true, "os/exec": true, "time": true,
		"math/rand": true, "math/rand/v2": true, "github.com/panjf2000/gnet/v2": true,
		"github.com/cockroachdb/pebble/vfs": true,
		"sync":                              false, "sort": false, "math": false, "network": false, "osx": false, "timeutil": false,
		"zkd/netio/jute": false,
	} {
		if got := bad(path); got != want {
			t.Errorf("%q forbidden = %v, want %v", path, got, want)
		}
	}
}
