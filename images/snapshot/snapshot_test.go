package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func chain(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func commit(t *testing.T, s *Snapshotter, id string, file string) string {
	t.Helper()
	d, err := s.Stage()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, file), []byte(file), 0o644)
	p, err := s.Commit(d, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommitLookupRemove(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	a := commit(t, s, chain('a'), "a")
	if p, ok := s.Lookup(chain('a')); !ok || p != a {
		t.Fatalf("lookup = %q %v", p, ok)
	}
	// A second commit of the same chain keeps the first and discards the new one.
	if p := commit(t, s, chain('a'), "other"); p != a {
		t.Fatalf("duplicate commit = %q", p)
	}
	if _, err := os.Stat(filepath.Join(a, "other")); err == nil {
		t.Fatal("duplicate content merged")
	}
	b := commit(t, s, chain('b'), "b")
	if ub, ui, err := s.Usage(); err != nil || ub == 0 || ui < 4 {
		t.Fatalf("usage %d bytes %d inodes: %v", ub, ui, err)
	}
	os.Remove(filepath.Join(root, "usage", filepath.Base(b))) // computed again when missing
	if ub, ui, err := s.Usage(); err != nil || ub == 0 || ui < 4 {
		t.Fatalf("recomputed usage %d bytes %d inodes: %v", ub, ui, err)
	}
	m, err := s.Prepare("c1", "sha256:img", []string{chain('a'), chain('b')})
	if err != nil {
		t.Fatal(err)
	}
	want := "lowerdir=" + b + ":" + a
	if m.Type != "overlay" || m.Options[1] != want || !strings.HasPrefix(m.Options[2], "upperdir=") {
		t.Fatalf("mount = %+v", m)
	}
	if _, err := s.Prepare("c1", "sha256:other", nil); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("prepare other image on same key: %v", err)
	}
	if _, err := s.Prepare("c2", "sha256:img", []string{chain('z')}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("prepare missing snapshot: %v", err)
	}
	if _, err := s.Prepare("../x", "sha256:img", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad key: %v", err)
	}
	if l, _ := s.RootfsList(); len(l) != 1 || l[0].Key != "c1" {
		t.Fatalf("rootfs list = %+v", l)
	}
	if err := s.RemoveRootfs("c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs("c1"); err != nil {
		t.Fatal("second remove:", err)
	}
	if err := s.Remove(chain('a')); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup(chain('a')); ok {
		t.Fatal("removed snapshot still found")
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Fatal("snapshot dir left")
	}
	if _, err := os.Stat(filepath.Join(root, "usage", filepath.Base(a))); !os.IsNotExist(err) {
		t.Fatal("usage file of a removed snapshot left")
	}
	// Simulate a crash: an orphan snapshot dir, a staging dir, a rootfs without record.
	os.Mkdir(filepath.Join(root, "snapshots", "99"), 0o700)
	s.Stage()
	os.MkdirAll(filepath.Join(root, "rootfs", "half", "upper"), 0o700)
	if err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"snapshots/99", "rootfs/half"} {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Errorf("%s survived recovery", d)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "staging")); len(ents) != 0 {
		t.Errorf("staging not cleaned: %v", ents)
	}
	if _, ok := s.Lookup(chain('b')); !ok {
		t.Error("recovery removed a live snapshot")
	}
}

func TestMountOptionLimit(t *testing.T) {
	s, _ := New(t.TempDir())
	var ch []string
	for i := 0; i < 200; i++ {
		c := chain('0' + byte(i%10))
		c = c[:len(c)-3] + string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + "0"
		ch = append(ch, c)
		if _, ok := s.Lookup(c); !ok {
			commit(t, s, c, "f")
		}
	}
	if _, err := s.Prepare("deep", "sha256:x", ch); !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("200 layers: %v", err)
	}
	if _, err := s.Prepare("ok", "sha256:x", ch[:20]); err != nil {
		t.Fatalf("20 layers: %v", err)
	}
}
