package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// FuzzApply feeds arbitrary bytes to Apply as a layer: it must never panic and never change
// anything outside the root. Layers are applied while they stream, before their digest is
// checked, so the applier alone must make any tar harmless. The seed corpus runs with a plain
// `go test`. Fuzz with
//
//	go test -run XXX -fuzz FuzzApply -fuzzminimizetime 0s ./images/apply/
//
// (minimizing "interesting" inputs is very slow here and looks like a hang). As root the
// whiteouts (0/0 character devices) are really made; as a normal user they fail early.
func FuzzApply(f *testing.F) {
	f.Add(mktar(f, ent{name: "a/b", body: "x"}, ent{name: "a/.wh.b", body: ""}))
	f.Add(mktar(f, ent{name: "l", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "l/x", body: "x"}))
	f.Add(mktar(f, ent{name: "l", typ: tar.TypeSymlink, link: "/"}, ent{name: "h", typ: tar.TypeLink, link: "l/../../x"}))
	f.Add(mktar(f, ent{name: "d/", typ: tar.TypeDir}, ent{name: "d/.wh..wh..opq"}, ent{name: "d", typ: tar.TypeSymlink, link: ".."}, ent{name: "d/y", body: "y"}))
	f.Add(mktar(f, ent{name: "../../etc/x", body: "x"}))
	// Whiteouts whose target is the parent, the directory itself, or reached through links.
	f.Add(mktar(f, ent{name: ".wh...", body: ""}))
	f.Add(mktar(f, ent{name: "a/b/", typ: tar.TypeDir}, ent{name: "a/b/.wh...", body: ""}))
	f.Add(mktar(f, ent{name: ".wh..", body: ""}, ent{name: "x/.wh..", body: ""}))
	f.Add(mktar(f, ent{name: "up", typ: tar.TypeSymlink, link: ".."}, ent{name: "up/.wh.outside", body: ""}))
	f.Add(mktar(f, ent{name: "up", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "up/.wh.keep", body: ""}, ent{name: "up/.wh..wh..opq"}))
	f.Add(mktar(f, ent{name: "abs", typ: tar.TypeSymlink, link: "/"}, ent{name: "abs/.wh.sibling", body: ""}, ent{name: "abs", body: "over"}))
	f.Add(mktar(f, ent{name: "d/f", body: "x"}, ent{name: "h", typ: tar.TypeLink, link: "d/f"}, ent{name: ".wh.d", body: ""}, ent{name: "d", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "d/.wh.keep", body: ""}))
	f.Add(mktar(f, ent{name: "s", typ: tar.TypeSymlink, link: "../sibling"}, ent{name: "h", typ: tar.TypeLink, link: "s"}, ent{name: "h", body: "write through?"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, outside := setupWithNeighbours(t)
		before := snapshotOutside(t, root)
		_, _ = Apply(context.Background(), root, bytes.NewReader(data), Options{NoOwnership: true})
		after := snapshotOutside(t, root)
		if d := diffSnap(before, after); d != "" {
			t.Fatalf("the layer changed things outside the root %s:\n%s", root, d)
		}
		_ = outside
	})
}

// setupWithNeighbours makes the root with populated neighbours: a sibling directory tree
// (outside/keep, outside/sub/f) and a sibling file, like other layers next to a staging one.
func setupWithNeighbours(t testing.TB) (root, outside string) {
	root, outside = setup(t)
	parent := filepath.Dir(root)
	for p, body := range map[string]string{"outside/keep": "k", "outside/sub/f": "f", "sibling": "s"} {
		full := filepath.Join(parent, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

// snapshotOutside describes every file under the root's parent except the root's own subtree
// (type, mode, owner, size, content hash, link target), plus the parent and the root entry.
func snapshotOutside(t testing.TB, root string) map[string]string {
	t.Helper()
	parent := filepath.Dir(root)
	snap := map[string]string{}
	err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d ino=%d", st.Mode, st.Uid, st.Gid, st.Ino)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size=%d sha=%x", len(b), sha256.Sum256(b))
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			desc += " link=" + l
		}
		snap[p] = desc
		if p == root {
			return fs.SkipDir // its content is the layer's; only the entry itself must stay
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", parent, err)
	}
	return snap
}

func diffSnap(before, after map[string]string) string {
	var out string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			out += "removed " + p + "\n"
		} else if a != b {
			out += "changed " + p + ": " + b + " → " + a + "\n"
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out += "added " + p + "\n"
		}
	}
	return out
}

// TestApplyWhiteoutTargets: a whiteout may only name an entry of its own directory. ".wh..."
// used to remove the parent of the layer root through /proc/self/fd/N/.. (emptying the
// staging directory of concurrent pulls).
func TestApplyWhiteoutTargets(t *testing.T) {
	needRoot(t) // whiteouts are 0/0 character devices
	for name, ents := range map[string][]ent{
		"dotdot-at-root":   {{name: ".wh...", body: ""}},
		"dotdot-in-subdir": {{name: "a/", typ: tar.TypeDir, mode: 0o755}, {name: "a/.wh...", body: ""}},
		"dot":              {{name: "a/.wh..", body: ""}},
		"empty":            {{name: ".wh.", body: ""}},
	} {
		t.Run(name, func(t *testing.T) {
			root, _ := setupWithNeighbours(t)
			before := snapshotOutside(t, root)
			err := apply(t, root, mktar(t, ents...))
			if d := diffSnap(before, snapshotOutside(t, root)); d != "" {
				t.Fatalf("changed outside the root:\n%s", d)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
		})
	}
}

// TestApplyReplaceDirTree: replacing a directory tree (with nested dirs, links, read-only
// dirs) by a file removes it entirely by fds, and a whiteout of a directory does the same.
func TestApplyReplaceDirTree(t *testing.T) {
	needRoot(t)
	root, _ := setupWithNeighbours(t)
	before := snapshotOutside(t, root)
	err := apply(t, root, mktar(t,
		ent{name: "x/a/b/", typ: tar.TypeDir, mode: 0o500},
		ent{name: "x/a/f", body: "f"},
		ent{name: "x/l", typ: tar.TypeSymlink, link: "../../outside"},
		ent{name: "x/h", typ: tar.TypeLink, link: "x/a/f"},
		ent{name: "x", body: "file now"},
		ent{name: "y/z/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "y/z/f", body: "f"},
		ent{name: ".wh.y", body: ""},
	))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSnap(before, snapshotOutside(t, root)); d != "" {
		t.Fatalf("changed outside the root:\n%s", d)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x")); string(b) != "file now" {
		t.Errorf("x = %q", b)
	}
	if st := lstat(t, filepath.Join(root, "y")); st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("y is not a whiteout: %o", st.Mode)
	}
}
