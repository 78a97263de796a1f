package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// hostileRootfs is a testRootfs whose image has a FIFO at /etc/passwd (an extra lower layer).
type hostileRootfs struct {
	*testRootfs
	layer string
}

func (r *hostileRootfs) PrepareRootfs(ctx context.Context, key, imageID string) (Mount, error) {
	m, err := r.testRootfs.PrepareRootfs(ctx, key, imageID)
	for i, o := range m.Options {
		if strings.HasPrefix(o, "lowerdir=") {
			m.Options[i] = "lowerdir=" + r.layer + ":" + strings.TrimPrefix(o, "lowerdir=")
		}
	}
	return m, err
}

// TestCreateHostilePasswdRoot: CreateContainer on an image whose /etc/passwd is a FIFO fails at
// once with InvalidArgument, unmounts and removes the rootfs, and frees the name (it used to
// block forever holding both).
func TestCreateHostilePasswdRoot(t *testing.T) {
	needRoot(t)
	layer := t.TempDir()
	if err := os.MkdirAll(filepath.Join(layer, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(layer, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := &hostileRootfs{testRootfs: newTestRootfs(t), layer: layer}
	root, state := t.TempDir(), t.TempDir()
	m := newTestManager(t, rootfs, root, state)
	pod := newTestPod(t)
	spec := pod.spec("fifo", "true")
	spec.Security.RunAsUsername = "nobody"
	for i := 0; i < 2; i++ { // the second attempt proves the name was released
		done := make(chan error, 1)
		go func() { _, err := m.Create(context.Background(), spec); done <- err }()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute): // a hang, not a speed: the fix answers at once
			// Unblock the reader (a writer that closes at once) so the test can clean up. The
			// FIFO must be opened through the container's overlay: its lower inode is another pipe.
			fifos, _ := filepath.Glob(filepath.Join(root, "containers", "*", "rootfs", "etc", "passwd"))
			for _, p := range fifos {
				if w, e := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); e == nil {
					w.Close()
				}
			}
			<-done
			t.Fatalf("attempt %d: Create blocked on the FIFO", i)
		}
		if !isKind(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "/etc/passwd") {
			t.Fatalf("attempt %d: Create = %v, want InvalidArgument naming /etc/passwd", i, err)
		}
	}
	if n := rootfs.count(); n != 0 {
		t.Errorf("%d rootfs left prepared", n)
	}
	if left, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(root)); len(left) > 0 {
		t.Errorf("mount left: %s", left[0].Mountpoint)
	}
	if l := m.List(); len(l) != 0 {
		t.Errorf("containers left: %+v", l)
	}
}

// TestCreateLogSymlinkRoot: a symlink planted in the pod's log directory where the container's
// log goes makes CreateContainer fail with InvalidArgument; nothing is written where it points,
// nothing is left behind.
func TestCreateLogSymlinkRoot(t *testing.T) {
	needRoot(t)
	rootfs := newTestRootfs(t)
	root, state := t.TempDir(), t.TempDir()
	m := newTestManager(t, rootfs, root, state)
	pod := newTestPod(t)
	outside := t.TempDir()
	logs := filepath.Join(pod.dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(logs, "c")); err != nil {
		t.Fatal(err)
	}
	spec := pod.spec("c", "echo", "escaped")
	spec.LogDirectory, spec.LogPath = logs, filepath.Join(logs, "c", "0.log")
	if _, err := m.Create(context.Background(), spec); !isKind(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), spec.LogPath) {
		t.Fatalf("Create = %v, want InvalidArgument naming %s", err, spec.LogPath)
	}
	if ents, _ := os.ReadDir(outside); len(ents) > 0 {
		t.Fatalf("wrote through the symlink: %s", ents[0].Name())
	}
	if n := rootfs.count(); n != 0 {
		t.Errorf("%d rootfs left prepared", n)
	}
	if l := m.List(); len(l) != 0 {
		t.Errorf("containers left: %+v", l)
	}
}
