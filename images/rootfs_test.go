package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// TestRootfsOverlay pulls a multi-layer image with whiteouts, an opaque directory, hard links
// and a setuid file, mounts the rootfs overlay and checks what a container would see.
func TestRootfsOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	tr := newRegistry(t)
	l1 := mkLayer(t, compression.GZip,
		tent{name: "bin/", typ: '5'},
		tent{name: "bin/busybox", body: "BB", mode: 0o755},
		tent{name: "bin/sh", typ: '1', link: "bin/busybox", mode: 0o755},
		tent{name: "bin/su", body: "SU", mode: 0o4755},
		tent{name: "etc/", typ: '5'},
		tent{name: "etc/gone", body: "deleted later"},
		tent{name: "opq/", typ: '5'},
		tent{name: "opq/old", body: "hidden by opaque"},
	)
	l2 := mkLayer(t, compression.ZStd,
		tent{name: "etc/.wh.gone"},
		tent{name: "opq/", typ: '5'},
		tent{name: "opq/.wh..wh..opq"},
		tent{name: "opq/new", body: "visible"},
	)
	l3 := mkLayer(t, compression.None, tent{name: "top", body: "top"})
	tr.push(t, "layers:1", mkImage(t, "amd64", v1.Config{}, l1, l2, l3))
	root := t.TempDir()
	s := newService(t, root, tr)
	ctx := context.Background()
	img, err := s.Pull(ctx, "registry.test/layers:1", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.PrepareRootfs(ctx, "ctr1", img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "overlay" || strings.Count(m.Options[1], ":") != 2 {
		t.Fatalf("mount %+v", m)
	}
	target := filepath.Join(t.TempDir(), "rootfs")
	os.Mkdir(target, 0o755)
	if err := unix.Mount(m.Source, target, m.Type, 0, strings.Join(m.Options, ",")); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			unix.Unmount(target, unix.MNT_DETACH)
		}
	}()
	check := func(p string, want string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(target, p))
		if want == "" {
			if !os.IsNotExist(err) {
				t.Errorf("%s visible: %q %v", p, b, err)
			}
			return
		}
		if string(b) != want {
			t.Errorf("%s = %q %v, want %q", p, b, err, want)
		}
	}
	check("etc/gone", "")
	check("opq/old", "")
	check("opq/new", "visible")
	check("top", "top")
	check("bin/sh", "BB")
	var bb, sh, su unix.Stat_t
	unix.Lstat(filepath.Join(target, "bin/busybox"), &bb)
	unix.Lstat(filepath.Join(target, "bin/sh"), &sh)
	unix.Lstat(filepath.Join(target, "bin/su"), &su)
	if bb.Ino != sh.Ino || sh.Mode&0o777 != 0o755 {
		t.Errorf("hard link lost: ino %d/%d mode %o", bb.Ino, sh.Ino, sh.Mode)
	}
	if su.Mode&0o7777 != 0o4755 {
		t.Errorf("setuid lost: %o", su.Mode&0o7777)
	}
	// Writes land in the container's upper dir only.
	if err := os.WriteFile(filepath.Join(target, "written"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _, err := s.RootfsUsage("ctr1"); err != nil || b == 0 {
		t.Errorf("usage %d %v", b, err)
	}
	if err := unix.Unmount(target, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	// The image is removed while the container still exists: its snapshots stay until the
	// rootfs goes.
	if err := s.Remove(img.ID); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "chains")); len(ents) != 3 {
		t.Fatalf("snapshots of a used rootfs collected: %v", ents)
	}
	if err := s.RemoveRootfs(ctx, "ctr1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "ctr1"); err != nil {
		t.Fatal("second RemoveRootfs:", err)
	}
	for _, d := range []string{"rootfs", "snapshots", "usage", "chains", "blobs/sha256", "staging", "ingest", "records"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s left behind: %v", d, ents)
		}
	}
}
