package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

var mtime = time.Unix(1600000000, 0)

type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
	maj, min         int64
	pax              map[string]string
}

func mktar(t testing.TB, ents ...ent) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: mtime, Devmajor: e.maj, Devminor: e.min, PAXRecords: e.pax, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 && e.typ != tar.TypeLink {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// setup returns a root dir and an "outside" sentinel dir next to it.
func setup(t testing.TB) (root, outside string) {
	d := t.TempDir()
	root, outside = filepath.Join(d, "root"), filepath.Join(d, "outside")
	for _, p := range []string{root, outside} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func apply(t testing.TB, root string, data []byte) error {
	_, err := Apply(context.Background(), root, bytes.NewReader(data), Options{NoOwnership: os.Geteuid() != 0})
	return err
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestApplyBasic(t *testing.T) {
	root, _ := setup(t)
	err := apply(t, root, mktar(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/su", body: "SU", mode: 0o4755, uid: 0, gid: 0},
		ent{name: "bin/app", body: "hello", mode: 0o750, uid: 1000, gid: 1001, pax: map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.redirect": "/x"}},
		ent{name: "bin/sh", typ: tar.TypeLink, link: "bin/app"},
		ent{name: "bin/ln", typ: tar.TypeSymlink, link: "/etc/passwd", uid: 1000, gid: 1000},
		ent{name: "deep/a/b/file", body: "x"},
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
	))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "bin/app")); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	if st := lstat(t, filepath.Join(root, "bin/su")); st.Mode&0o7777 != 0o4755 {
		t.Errorf("setuid mode = %o", st.Mode&0o7777)
	}
	app, sh := lstat(t, filepath.Join(root, "bin/app")), lstat(t, filepath.Join(root, "bin/sh"))
	if app.Ino != sh.Ino || sh.Mode&0o7777 != 0o750 {
		t.Errorf("hard link: ino %d/%d mode %o", app.Ino, sh.Ino, sh.Mode&0o7777)
	}
	if app.Mtim.Sec != mtime.Unix() {
		t.Errorf("mtime = %d", app.Mtim.Sec)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/ln")); l != "/etc/passwd" {
		t.Errorf("symlink = %q", l)
	}
	if st := lstat(t, filepath.Join(root, "bin")); st.Mtim.Sec != mtime.Unix() {
		t.Errorf("dir mtime not restored: %d", st.Mtim.Sec)
	}
	if st := lstat(t, filepath.Join(root, "deep/a")); st.Mode&0o777 != 0o755 {
		t.Errorf("implied parent mode %o", st.Mode&0o777)
	}
	if st := lstat(t, filepath.Join(root, "fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo mode %o", st.Mode)
	}
	if os.Geteuid() == 0 {
		if app.Uid != 1000 || app.Gid != 1001 {
			t.Errorf("owner %d:%d", app.Uid, app.Gid)
		}
		if st := lstat(t, filepath.Join(root, "bin/ln")); st.Uid != 1000 {
			t.Errorf("symlink owner %d", st.Uid)
		}
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(root, "bin/app"), "user.k", buf); err == nil && string(buf[:n]) != "v" {
		t.Errorf("xattr %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "bin/app"), "trusted.overlay.redirect", buf); err == nil {
		t.Error("trusted.overlay xattr from the layer was applied")
	}
}

func TestApplyWhiteouts(t *testing.T) {
	needRoot(t)
	root, _ := setup(t)
	err := apply(t, root, mktar(t,
		ent{name: "a/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "a/.wh..wh..opq", body: ""},
		ent{name: "a/keep", body: "k"},
		ent{name: ".wh.gone", body: ""},
		ent{name: "b/.wh.c", body: ""},
		ent{name: "c/.wh..wh.plnk", body: ""},
		ent{name: "d", typ: tar.TypeChar}, // overlay-format whiteout in the tar itself
	))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gone", "b/c", "d"} {
		st := lstat(t, filepath.Join(root, p))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: not a 0/0 char device (mode %o rdev %d)", p, st.Mode, st.Rdev)
		}
	}
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(root, "a"), OpaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(root, "c/.wh..wh.plnk")); err == nil {
		t.Error("aufs metadata written")
	}
}

func TestApplyRejects(t *testing.T) {
	cases := map[string][]ent{
		"dotdot":          {{name: "../evil", body: "x"}},
		"dotdot-inner":    {{name: "a/../../evil", body: "x"}},
		"hardlink-out":    {{name: "h", typ: tar.TypeLink, link: "../outside/f"}},
		"hardlink-abs":    {{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}},
		"char-device":     {{name: "null", typ: tar.TypeChar, maj: 1, min: 3}},
		"block-device":    {{name: "sda", typ: tar.TypeBlock, maj: 8}},
		"whiteout-dotdot": {{name: "../.wh.x", body: ""}},
		"root-not-dir":    {{name: ".", body: "x"}},
	}
	for name, ents := range cases {
		t.Run(name, func(t *testing.T) {
			root, outside := setup(t)
			err := apply(t, root, mktar(t, ents...))
			if err == nil {
				t.Fatal("accepted")
			}
			if name != "hardlink-abs" && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("err = %v, want invalid argument", err)
			}
			checkOutside(t, outside)
		})
	}
}

func checkOutside(t testing.TB, outside string) {
	t.Helper()
	ents, err := os.ReadDir(outside)
	if err != nil || len(ents) != 0 {
		t.Fatalf("something was written outside the root: %v %v", ents, err)
	}
	parent, _ := os.ReadDir(filepath.Dir(outside))
	if len(parent) != 2 {
		t.Fatalf("something was written next to the root: %v", parent)
	}
}

func TestApplySymlinkEscapes(t *testing.T) {
	root, outside := setup(t)
	// A symlink used as a parent must resolve (inside the root) to an existing directory;
	// dangling ones are an error, checked below.
	err := apply(t, root, mktar(t,
		ent{name: "outside/", typ: tar.TypeDir, mode: 0o755},
		ent{name: strings.TrimPrefix(outside, "/") + "/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "up", typ: tar.TypeSymlink, link: "../outside"},
		ent{name: "abs", typ: tar.TypeSymlink, link: outside},
		ent{name: "slash", typ: tar.TypeSymlink, link: "/"},
		ent{name: "up/f1", body: "x"},
		ent{name: "abs/f2", body: "x"},
		ent{name: "slash/f3", body: "x"},
		ent{name: "up/sub/f4", body: "x"},
		ent{name: "hl", typ: tar.TypeLink, link: "slash/f3"},
		ent{name: "up", typ: tar.TypeSymlink, link: "../outside"},
		ent{name: "up/.wh.x", body: ""},
	))
	if err != nil {
		t.Fatal(err)
	}
	checkOutside(t, outside)
	// Symlinks resolved inside the root: "../outside" from the root is root/outside.
	for _, p := range []string{"outside/f1", strings.TrimPrefix(outside, "/") + "/f2", "f3", "outside/sub/f4"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s not created inside the root: %v", p, err)
		}
	}
}

func TestApplyDanglingParent(t *testing.T) {
	root, outside := setup(t)
	err := apply(t, root, mktar(t,
		ent{name: "up", typ: tar.TypeSymlink, link: "../outside/new"},
		ent{name: "up/f", body: "x"},
	))
	if err == nil {
		t.Fatal("write through a dangling symlink accepted")
	}
	checkOutside(t, outside)
}

func TestApplyReplace(t *testing.T) {
	root, _ := setup(t)
	err := apply(t, root, mktar(t,
		ent{name: "x/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "x/child", body: "c"},
		ent{name: "x", body: "now a file"},
		ent{name: "y", body: "file"},
		ent{name: "y/", typ: tar.TypeDir, mode: 0o700},
		ent{name: "z", typ: tar.TypeSymlink, link: "y"},
		ent{name: "z", body: "replaced link"},
	))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x")); string(b) != "now a file" {
		t.Errorf("x = %q", b)
	}
	if st := lstat(t, filepath.Join(root, "y")); st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o777 != 0o700 {
		t.Errorf("y mode %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(root, "z")); st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("z mode %o", st.Mode)
	}
}

func TestCleanName(t *testing.T) {
	ok := map[string]string{"./": "", "/": "", "a/b/": "a/b", "/a//b/./c": "a/b/c", "./a": "a"}
	for in, want := range ok {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "a/..", "../a", "a/../b", "a\x00b"} {
		if _, err := CleanName(in); err == nil {
			t.Errorf("CleanName(%q) accepted", in)
		}
	}
}

func TestDecompress(t *testing.T) {
	data := mktar(t, ent{name: "f", body: "x"})
	r, err := Decompress(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := setup(t)
	if _, err := Apply(context.Background(), root, r, Options{NoOwnership: true}); err != nil {
		t.Fatal(err)
	}
}
