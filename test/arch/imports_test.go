// Package arch enforces the package boundaries of DESIGN.md §2 on the source tree.
package arch

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/crishim/crishim"

// domains may not import each other, nor cri.
var domains = []string{"sandbox", "runtime", "images", "cni"}

// exclusive lists import prefixes that only the given top-level dirs may use.
var exclusive = map[string][]string{
	"github.com/opencontainers/runc/libcontainer": {"runtime"},
	"k8s.io/cri-api":                     {"cri", "test"},
	"github.com/containernetworking/cni": {"cni"},
}

type importRef struct{ file, pkgDir, path string }

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repo root not found at %s: %v", dir, err)
	}
	return dir
}

// collectImports parses every .go file of the main module (not hack/tools) and returns its imports.
func collectImports(t *testing.T, root string) []importRef {
	t.Helper()
	var refs []importRef
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "_output" || d.Name() == "testdata" || rel == filepath.Join("hack", "tools") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			refs = append(refs, importRef{file: rel, pkgDir: filepath.ToSlash(filepath.Dir(rel)), path: ip})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func top(dir string) string { return strings.SplitN(dir, "/", 2)[0] }

func TestImportRules(t *testing.T) {
	refs := collectImports(t, repoRoot(t))
	if len(refs) == 0 {
		t.Fatal("no imports found: the walk is broken")
	}
	for _, r := range refs {
		if msg := violation(r); msg != "" {
			t.Errorf("%s imports %s: %s", r.file, r.path, msg)
		}
	}
}

// violation returns why an import breaks the rules, or "".
func violation(r importRef) string {
	from := top(r.pkgDir)
	for prefix, allowed := range exclusive {
		if r.path == prefix || strings.HasPrefix(r.path, prefix+"/") {
			if !contains(allowed, from) {
				return "only " + strings.Join(allowed, ", ") + " may import " + prefix
			}
		}
	}
	if !strings.HasPrefix(r.path, module+"/") {
		return ""
	}
	to := top(strings.TrimPrefix(r.path, module+"/"))
	switch {
	case from == "internal" && to != "internal":
		return "internal packages are leaves: they import only other internal packages"
	case contains(domains, from) && to == "cri":
		return "domain packages never import cri"
	case contains(domains, from) && contains(domains, to) && from != to:
		return "domain packages do not import each other: declare a small interface in the consumer"
	case to == "cmd" || (to == "test" && from != "test"):
		return "nothing imports commands, and only tests import tests"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestViolationDetects keeps the rule checker honest: each of these must be reported.
func TestViolationDetects(t *testing.T) {
	bad := []importRef{
		{pkgDir: "sandbox", path: module + "/runtime"},
		{pkgDir: "images/content", path: module + "/cri"},
		{pkgDir: "cri", path: "github.com/opencontainers/runc/libcontainer/configs"},
		{pkgDir: "sandbox", path: "k8s.io/cri-api/pkg/apis/runtime/v1"},
		{pkgDir: "sandbox", path: "github.com/containernetworking/cni/libcni"},
		{pkgDir: "internal/store", path: module + "/images"},
		{pkgDir: "cri", path: module + "/test/e2e"},
		{pkgDir: "images", path: module + "/cmd/shim"},
	}
	for _, r := range bad {
		if violation(r) == "" {
			t.Errorf("%s importing %s should be a violation", r.pkgDir, r.path)
		}
	}
	good := []importRef{
		{pkgDir: "cri", path: module + "/sandbox"},
		{pkgDir: "runtime", path: "github.com/opencontainers/runc/libcontainer"},
		{pkgDir: "images/apply", path: module + "/images/content"},
		{pkgDir: "cni", path: module + "/internal/errdefs"},
		{pkgDir: "cmd/shim", path: module + "/cni"},
		{pkgDir: "test/e2e", path: module + "/test/e2e/images"},
	}
	for _, r := range good {
		if msg := violation(r); msg != "" {
			t.Errorf("%s importing %s flagged: %s", r.pkgDir, r.path, msg)
		}
	}
}
