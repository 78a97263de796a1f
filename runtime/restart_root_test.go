package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	var rec record
	recPath := filepath.Join(root, "containers", half.ID, "record.json")
	if err := store.ReadJSON(recPath, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Phase = phaseRemoving
	if err := store.WriteJSON(recPath, &rec); err != nil {
		t.Fatal(err)
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
