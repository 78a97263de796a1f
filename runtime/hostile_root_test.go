package runtime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs argv as uid/gid 65534 with no supplementary group and returns its output and
// error (for a program that cannot be executed, the error from starting it).
func asNobody(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkUnreachable: as nobody, stat, list and exec under dir fail with permission denied.
func checkUnreachable(t *testing.T, dir, exe string) {
	t.Helper()
	for _, argv := range [][]string{{"/usr/bin/stat", dir}, {"/usr/bin/stat", filepath.Join(dir, exe)}, {"/bin/ls", dir}} {
		out, err := asNobody(argv...)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("as nobody, %v: err %v, output %q; want permission denied", argv, err, out)
		}
	}
	if exe != "" {
		_, err := asNobody(filepath.Join(dir, exe), "true")
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("as nobody, exec %s: %v, want EACCES", filepath.Join(dir, exe), err)
		}
	}
}

// TestRootfsUnreachableForOthers: a plain host user can neither look into a running
// container's rootfs or image volume nor run its binaries (setuid ones included) from the host.
func TestRootfsUnreachableForOthers(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	// Like /var/lib: every parent searchable by all.
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, newTestRootfs(t), root, t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Mounts = []ContainerMount{{Destination: "/img", ImageID: "sha256:vol", ImageRef: "busybox:vol"}}
	})
	dir := filepath.Join(m.ctrsDir(), a.ID)
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "bin", "busybox")); err != nil {
		t.Fatalf("the rootfs is not where the test looks: %v", err)
	}
	checkUnreachable(t, filepath.Join(dir, "rootfs"), "bin/busybox")
	checkUnreachable(t, filepath.Join(dir, "vol-0"), "bin/busybox")
}
