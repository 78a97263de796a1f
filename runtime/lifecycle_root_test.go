package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

var logLineRE = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

// readLog parses a CRI log file into (stream, tag, text) triples.
func readLog(t *testing.T, path string) [][3]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	var out [][3]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad log line %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("bad timestamp in %q: %v", l, err)
		}
		out = append(out, [3]string{m[2], m[3], m[4]})
	}
	return out
}

func TestContainerLifecycle(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	rootfs := newTestRootfs(t)
	root, state := t.TempDir(), t.TempDir()
	m := newTestManager(t, rootfs, root, state)
	pod := newTestPod(t)
	t.Cleanup(func() { _ = m.RemovePodContainers(context.Background(), pod.id) })

	spec := pod.spec("lines", "sh", "-c", `i=1; while [ $i -le 100 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; printf tail; exit 3`)
	st, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if st.State != StateCreated || st.ID == "" || st.User.UID != 0 {
		t.Fatalf("status after create: %+v", st)
	}
	if _, err := m.Create(ctx, spec); !isKind(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), st.ID) {
		t.Fatalf("second create with the same name: %v", err)
	}
	if err := m.Start(ctx, st.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ex := waitExit(t, m, st.ID, 10*time.Second)
	if ex.State != StateExited || ex.ExitCode != 3 || ex.Reason != ReasonError || ex.FinishedAt.Before(ex.StartedAt) {
		t.Fatalf("status after exit: %+v", ex)
	}
	lines := readLog(t, spec.LogPath)
	if len(lines) != 102 {
		t.Fatalf("got %d log lines, want 102: %v", len(lines), lines)
	}
	n := 0
	for _, l := range lines {
		switch {
		case l[0] == "stdout" && strings.HasPrefix(l[2], "line "):
			n++
			if l[2] != fmt.Sprintf("line %d", n) || l[1] != "F" {
				t.Fatalf("line %d: %v", n, l)
			}
		case l[0] == "stderr":
			if l != [3]string{"stderr", "F", "oops"} {
				t.Fatalf("stderr line: %v", l)
			}
		default:
			if l != [3]string{"stdout", "F", "tail"} {
				t.Fatalf("unterminated last line: %v", l)
			}
		}
	}
	if err := m.Stop(ctx, st.ID, time.Second); err != nil {
		t.Fatalf("Stop of an exited container: %v", err)
	}
	if err := m.Remove(ctx, st.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := m.Remove(ctx, st.ID); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := m.Status(st.ID); !isKind(err, errdefs.ErrNotFound) {
		t.Fatalf("Status after remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "containers", st.ID)); !os.IsNotExist(err) {
		t.Fatalf("container dir left: %v", err)
	}
	if cgroupExists(pod.cgroup + "/" + st.ID) {
		t.Fatalf("container cgroup left")
	}
	if rootfs.count() != 0 {
		t.Fatalf("rootfs left")
	}
	// The name is free again.
	st2, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create after remove: %v", err)
	}
	monPid := monitorPid(t, m, pod.id)
	if err := m.RemovePodContainers(ctx, pod.id); err != nil {
		t.Fatalf("RemovePodContainers: %v", err)
	}
	if _, err := m.Status(st2.ID); !isKind(err, errdefs.ErrNotFound) {
		t.Fatalf("Status after RemovePodContainers: %v", err)
	}
	waitGone(t, monPid)
	if err := m.RemovePodContainers(ctx, pod.id); err != nil {
		t.Fatalf("second RemovePodContainers: %v", err)
	}
	// Nothing of the pod is left in the state dir: no monitor dir, socket or container state.
	for _, d := range []string{"monitors", "s", "lc"} {
		if e, _ := os.ReadDir(filepath.Join(state, d)); len(e) != 0 {
			t.Errorf("%s/%s not empty: %v", state, d, e)
		}
	}
}

// monitorPid finds the pod monitor's pid through the socket's peer credentials.
func monitorPid(t *testing.T, m *Manager, pod string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	_ = b
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	sock := m.podMonitor(pod).sock
	for _, p := range pids {
		c, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(c), sock) {
			var pid int
			fmt.Sscanf(strings.Split(p, "/")[2], "%d", &pid)
			return pid
		}
	}
	t.Fatalf("no monitor process for pod %s", pod)
	return 0
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if !pidAlive(pid) {
			return
		}
		// A zombie child of ours still answers kill(0): check its state.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still alive", pid)
}

// TestReopenLog rotates the log of a writing container: every line ends up in exactly one
// of the two files, in order.
func TestReopenLog(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "i=1; while [ $i -le 200 ]; do echo n $i; i=$((i+1)); sleep 0.002; done"}
	})
	time.Sleep(100 * time.Millisecond)
	if err := os.Rename(a.LogPath, a.LogPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := m.ReopenLog(ctx, a.ID); err != nil {
		t.Fatalf("ReopenLog: %v", err)
	}
	waitExit(t, m, a.ID, 10*time.Second)
	lines := append(readLog(t, a.LogPath+".1"), readLog(t, a.LogPath)...)
	if len(lines) != 200 {
		t.Fatalf("%d lines in both files, want 200", len(lines))
	}
	for i, l := range lines {
		if l[2] != fmt.Sprintf("n %d", i+1) {
			t.Fatalf("line %d: %v", i+1, l)
		}
	}
	if err := m.ReopenLog(ctx, a.ID); !isKind(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("ReopenLog of an exited container: %v", err)
	}
}
