package images

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// TestRecoverAfterCrash fakes what a kill -9 mid-pull leaves and checks the next start
// cleans it while keeping complete images.
func TestRecoverAfterCrash(t *testing.T) {
	tr := newRegistry(t)
	tr.push(t, "keep:1", mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.GZip, tent{name: "k", body: "k"})))
	root := t.TempDir()
	s := newService(t, root, tr)
	img, err := s.Pull(context.Background(), "registry.test/keep:1", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	leftovers := []string{"ingest/blob-123", "staging/apply-1/half", "records/.x.json.tmp-1", "snapshots/77/file",
		"blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000"}
	for _, p := range leftovers {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o700)
		os.WriteFile(filepath.Join(root, p), []byte("partial"), 0o600)
	}
	s2 := newService(t, root, tr)
	for _, p := range leftovers {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s survived the restart", p)
		}
	}
	if _, err := s2.PrepareRootfs(context.Background(), "c", img.ID); err != nil {
		t.Fatal("complete image damaged by recovery:", err)
	}
}

// TestPullDiskFull pulls into a tiny tmpfs: the pull fails with ResourceExhausted, leaves no
// partial file, and works once there is room.
func TestPullDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	tr := newRegistry(t)
	tr.push(t, "big:1", mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.GZip, tent{name: "big", body: string(big)})))
	root := filepath.Join(t.TempDir(), "store")
	os.Mkdir(root, 0o700)
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	s := newService(t, root, tr)
	_, err := s.Pull(context.Background(), "registry.test/big:1", Auth{})
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("pull on a full disk: %v", err)
	}
	for _, d := range []string{"ingest", "staging", "chains", "records"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s not empty after failure: %v", d, ents)
		}
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(context.Background(), "registry.test/big:1", Auth{}); err != nil {
		t.Fatal("pull after freeing space:", err)
	}
}
