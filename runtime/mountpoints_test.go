package runtime

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPrepareMountpoints(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	src := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(src, nil, 0o644)
	// /etc is a symlink that points outside the rootfs: creation must stay inside.
	if err := os.Symlink(outside, filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	mounts := []specs.Mount{
		{Destination: "/dev", Type: "tmpfs"},
		{Destination: "/dev/shm", Type: "bind", Source: src},
		{Destination: "/etc/hosts", Type: "bind", Source: src},
		{Destination: "/data/vol", Type: "bind", Source: t.TempDir()},
	}
	if err := prepareMountpoints(root, mounts); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(root, "dev")); err != nil || !st.IsDir() {
		t.Errorf("/dev: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "dev/shm")); !os.IsNotExist(err) {
		t.Errorf("/dev/shm created below another mount: %v", err)
	}
	if e, _ := os.ReadDir(outside); len(e) != 0 {
		t.Errorf("created outside the rootfs: %v", e)
	}
	if st, err := os.Stat(filepath.Join(outside, "hosts")); err == nil {
		t.Errorf("followed the symlink out: %v", st)
	}
	if st, err := os.Stat(filepath.Join(root, "data/vol")); err != nil || !st.IsDir() {
		t.Errorf("/data/vol: %v", err)
	}
}
