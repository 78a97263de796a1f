package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newUserNSPod makes a pod whose net, ipc and uts namespaces belong to a new user namespace
// mapping 0 → 1000 (size 100000), all pinned, as a sandbox does for user-namespaced pods.
func newUserNSPod(t *testing.T) *testPod {
	t.Helper()
	p := newTestPod(t)
	cmd := exec.Command(busyboxPath, "sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 100000}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 100000}},
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start userns holder: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	userPin := filepath.Join(p.dir, "user")
	for name, f := range map[string]string{"user": userPin, "net": p.net, "ipc": p.ipc, "uts": p.uts} {
		_ = unix.Unmount(f, unix.MNT_DETACH) // replace newTestPod's pins
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/%s", cmd.Process.Pid, name), f, "", unix.MS_BIND, ""); err != nil {
			t.Fatalf("pin %s: %v", name, err)
		}
	}
	t.Cleanup(func() { _ = unix.Unmount(userPin, unix.MNT_DETACH) })
	p.userns = userPin
	return p
}

func TestUserNamespacePod(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	// t.TempDir's parent is 0700: let the container's unprivileged host uid through.
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, newTestRootfs(t), root, t.TempDir())
	pod := newUserNSPod(t)
	// The rootfs is idmapped: "/", an image file and a new file belong to the container's root.
	spec := pod.spec("userns", "sh", "-c", "cat /proc/self/uid_map; id -u; ls /dev/mqueue >/dev/null && echo mq; "+
		"touch /new && stat -c '%u:%g' / /bin/sh /new")
	spec.Pod.UserNSPath = pod.userns
	spec.Pod.UIDMappings = []IDMapping{{ContainerID: 0, HostID: 1000, Size: 100000}}
	spec.Pod.GIDMappings = spec.Pod.UIDMappings
	st, err := m.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := m.Start(context.Background(), st.ID); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, m, st.ID, 10*time.Second); ex.ExitCode != 0 {
		t.Fatalf("exit %d: %v", ex.ExitCode, readLog(t, spec.LogPath))
	}
	var out []string
	for _, l := range readLog(t, spec.LogPath) {
		out = append(out, strings.Join(strings.Fields(l[2]), " "))
	}
	if strings.Join(out, "|") != "0 1000 100000|0|mq|0:0|0:0|0:0" {
		t.Fatalf("output %q", out)
	}
}

// TestUserNamespaceNew: a pod whose namespaces were made outside any user namespace still
// runs user-namespaced containers (new userns per container; no /dev/mqueue).
func TestUserNamespaceNew(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, newTestRootfs(t), root, t.TempDir())
	pod := newTestPod(t)
	spec := pod.spec("userns", "sh", "-c", "cat /proc/self/uid_map; id -u")
	spec.Pod.UIDMappings = []IDMapping{{ContainerID: 0, HostID: 1000, Size: 100000}}
	spec.Pod.GIDMappings = spec.Pod.UIDMappings
	st, err := m.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := m.Start(context.Background(), st.ID); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, m, st.ID, 10*time.Second); ex.ExitCode != 0 {
		t.Fatalf("exit %d: %v", ex.ExitCode, readLog(t, spec.LogPath))
	}
	var out []string
	for _, l := range readLog(t, spec.LogPath) {
		out = append(out, strings.Join(strings.Fields(l[2]), " "))
	}
	if strings.Join(out, "|") != "0 1000 100000|0" {
		t.Fatalf("output %q", out)
	}
}
