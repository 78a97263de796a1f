package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/store"
)

// TestDaemonRestart drops a Manager (the monitor survives, as it would a kill -9 of the
// daemon), lets a container exit meanwhile, and checks that a new Manager reports the
// exit, keeps the running container and lost no log line.
func TestDaemonRestart(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	rootfs := newTestRootfs(t)
	root, state := t.TempDir(), t.TempDir()
	m1 := newTestManager(t, rootfs, root, state)
	pod := newTestPod(t)
	a := startSleeper(t, m1, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "i=1; while [ $i -le 300 ]; do echo n $i; i=$((i+1)); sleep 0.002; done; exit 5"}
	})
	b := startSleeper(t, m1, pod, nil)
	half := startSleeper(t, m1, pod, nil)
	creating, err := m1.Create(ctx, pod.spec("creating", "sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	monPid := monitorPid(t, m1, pod.id)
	_ = m1.Close()

	// While no daemon runs: a exits, and a crash left half's removal half-done.
	exitFile := filepath.Join(root, "containers", a.ID, "exit.json")
	for i := 0; ; i++ {
		if _, err := os.Stat(exitFile); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("container a did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// half's removal and creating's create were interrupted by the "crash".
	for id, phase := range map[string]string{half.ID: phaseRemoving, creating.ID: phaseCreating} {
		var rec record
		recPath := filepath.Join(root, "containers", id, "record.json")
		if err := store.ReadJSON(recPath, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Phase = phase
		if err := store.WriteJSON(recPath, &rec); err != nil {
			t.Fatal(err)
		}
	}

	m2 := newTestManager(t, rootfs, root, state)
	sa, err := m2.Status(a.ID)
	if err != nil || sa.State != StateExited || sa.ExitCode != 5 || sa.FinishedAt.IsZero() || sa.StartedAt.IsZero() {
		t.Fatalf("a after restart: %+v %v", sa, err)
	}
	sb, err := m2.Status(b.ID)
	if err != nil || sb.State != StateRunning || sb.Pid != b.Pid || !pidAlive(sb.Pid) {
		t.Fatalf("b after restart: %+v %v", sb, err)
	}
	if _, err := m2.Status(half.ID); !isNotFound(err) || pidAlive(half.Pid) {
		t.Fatalf("half-removed container after restart: %v (pid alive %v)", err, pidAlive(half.Pid))
	}
	if _, err := m2.Status(creating.ID); !isNotFound(err) {
		t.Fatalf("half-created container after restart: %v", err)
	}
	waitGone(t, creating.Pid)
	lines := readLog(t, a.LogPath)
	if len(lines) != 300 {
		t.Fatalf("%d log lines, want 300", len(lines))
	}
	for i, l := range lines {
		if l != [3]string{"stdout", "F", fmt.Sprintf("n %d", i+1)} {
			t.Fatalf("line %d: %v", i+1, l)
		}
	}
	if got := len(m2.List()); got != 2 {
		t.Fatalf("List: %d containers, want 2", got)
	}
	if _, _, code, err := m2.ExecSync(ctx, b.ID, []string{"true"}, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("exec after restart: %d %v", code, err)
	}
	if err := m2.Stop(ctx, b.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m2.RemovePodContainers(ctx, pod.id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, monPid)
	if rootfs.count() != 0 {
		t.Fatalf("%d rootfs left", rootfs.count())
	}
	if e, _ := os.ReadDir(filepath.Join(root, "containers")); len(e) != 0 {
		t.Fatalf("container dirs left: %v", e)
	}
}

// TestMonitorKilled: with its monitor gone, a container is still stopped and removed.
func TestMonitorKilled(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	rootfs := newTestRootfs(t)
	m := newTestManager(t, rootfs, t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, nil)
	mon := monitorPid(t, m, pod.id)
	if err := syscall.Kill(mon, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, mon)
	if err := m.Stop(ctx, a.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Status(a.ID)
	if st.State != StateExited || st.ExitCode != 255 || st.Message == "" {
		t.Fatalf("status after stop without monitor: %+v", st)
	}
	waitGone(t, a.Pid)
	if err := m.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	// A new container in the pod gets a new monitor.
	b := startSleeper(t, m, pod, nil)
	if out := execOut(t, m, b.ID, "echo", "ok"); out != "ok" {
		t.Fatalf("exec in new container: %q", out)
	}
}

// TestDaemonRestartManyPods: 10 pods × 2 containers writing numbered lines; the "daemon"
// goes away, one container exits meanwhile; after the restart every container has its true
// state and no line is missing.
func TestDaemonRestartManyPods(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	rootfs := newTestRootfs(t)
	root, state := t.TempDir(), t.TempDir()
	m1 := newTestManager(t, rootfs, root, state)
	writer := func(n int, code int) func(*ContainerSpec) {
		return func(s *ContainerSpec) {
			s.Command = []string{"sh", "-c", fmt.Sprintf("i=1; while [ $i -le %d ]; do echo n $i; i=$((i+1)); sleep 0.01; done; exit %d", n, code)}
		}
	}
	var all []Status
	var exiting Status
	for p := 0; p < 10; p++ {
		pod := newTestPod(t)
		for c := 0; c < 2; c++ {
			if p == 3 && c == 1 {
				exiting = startSleeper(t, m1, pod, writer(50, 9))
				all = append(all, exiting)
				continue
			}
			all = append(all, startSleeper(t, m1, pod, writer(100000, 0)))
		}
	}
	_ = m1.Close()
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(root, "containers", exiting.ID, "exit.json")); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("container did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m2 := newTestManager(t, rootfs, root, state)
	for _, s := range all {
		st, err := m2.Status(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID == exiting.ID {
			if st.State != StateExited || st.ExitCode != 9 {
				t.Fatalf("exited container: %+v", st)
			}
			continue
		}
		if st.State != StateRunning || st.Pid != s.Pid {
			t.Fatalf("running container %s: %+v", s.ID, st)
		}
		if err := m2.Stop(ctx, s.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range all {
		lines := readLog(t, s.LogPath)
		if len(lines) == 0 || (s.ID == exiting.ID && len(lines) != 50) {
			t.Fatalf("%s: %d lines", s.ID, len(lines))
		}
		for i, l := range lines {
			if l[2] != fmt.Sprintf("n %d", i+1) {
				t.Fatalf("%s line %d: %v", s.ID, i+1, l)
			}
		}
	}
}
