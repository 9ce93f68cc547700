package zab

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCoreIsPure enforces the shape the core promises: no I/O, no clock, no
// global randomness, no goroutines, in the package's non-test files.
func TestCoreIsPure(t *testing.T) {
	forbidden := map[string]string{
		"net": "I/O belongs to the driver", "os": "I/O belongs to the driver", "os/exec": "I/O",
		"io/ioutil": "I/O", "syscall": "I/O", "time": "time is ticks", "math/rand": "use the seeded *rand.Rand",
		"sync": "the core is single-threaded", "sync/atomic": "the core is single-threaded",
		"unsafe": "no", "log": "log through Config.Logf", "log/slog": "log through Config.Logf",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if why, bad := forbidden[path]; bad || strings.HasPrefix(path, "net/") || strings.Contains(path, "gnet") || strings.Contains(path, "pebble") {
				t.Errorf("%s imports %q: %s", fset.Position(imp.Pos()), path, why)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: go statement in the core", fset.Position(x.Pos()))
			case *ast.SelectorExpr:
				// math/rand/v2's package-level functions draw from a global source.
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "rand" && x.Sel.Name != "New" && x.Sel.Name != "NewPCG" && x.Sel.Name != "Rand" {
					t.Errorf("%s: rand.%s uses the global source", fset.Position(x.Pos()), x.Sel.Name)
				}
			}
			return true
		})
	}
}
