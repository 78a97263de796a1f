package runtime

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// startSleeper creates and starts a long-running container in a fresh pod.
func startSleeper(t *testing.T, m *Manager, pod *testPod, mutate func(*ContainerSpec)) Status {
	t.Helper()
	ctx := context.Background()
	spec := pod.spec("sleeper-"+randHex(3), "sleep", "1000")
	if mutate != nil {
		mutate(&spec)
	}
	st, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = m.RemovePodContainers(context.Background(), pod.id) })
	if err := m.Start(ctx, st.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st, _ = m.Status(st.ID)
	if st.State != StateRunning {
		t.Fatalf("state after start: %v", st.State)
	}
	return st
}

func countFDs() int {
	e, _ := os.ReadDir("/proc/self/fd")
	return len(e)
}

func countChildren() int {
	return len(procChildren(os.Getpid()))
}

func TestExecSync(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, nil)

	out, errb, code, err := m.ExecSync(ctx, st.ID, []string{"sh", "-c", "echo hello; echo world >&2; hostname; exit 7"}, 10*time.Second)
	if err != nil || code != 7 || string(out) != "hello\ntestpod\n" || string(errb) != "world\n" {
		t.Fatalf("ExecSync: out=%q err=%q code=%d %v", out, errb, code, err)
	}
	out, _, code, err = m.ExecSync(ctx, st.ID, []string{"head", "-c", "20000000", "/dev/zero"}, 10*time.Second)
	if err != nil || code != 0 || len(out) != m.cfg.ExecOutputLimit {
		t.Fatalf("capped ExecSync: len=%d code=%d %v", len(out), code, err)
	}
	if _, _, _, err := m.ExecSync(ctx, st.ID, nil, 0); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("empty command: %v", err)
	}
	if _, _, _, err := m.ExecSync(ctx, "nope", []string{"true"}, 0); !isKind(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown container: %v", err)
	}

	// Warm up, then count what a timed-out exec could leak.
	_, _, _, _ = m.ExecSync(ctx, st.ID, []string{"true"}, time.Second)
	fds, kids, gor := countFDs(), countChildren(), goruntime.NumGoroutine()
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		_, _, _, err := m.ExecSync(ctx, st.ID, []string{"sh", "-c", "sleep 100 & sleep 100 & sleep 100"}, 300*time.Millisecond)
		if !isKind(err, errdefs.ErrDeadlineExceeded) {
			t.Fatalf("timed-out exec: %v", err)
		}
		if d := time.Since(t0); d > 30*time.Second { // the command sleeps 100 s; a busy machine is slow
			t.Fatalf("timed-out exec took %v", d)
		}
	}
	out, _, _, err = m.ExecSync(ctx, st.ID, []string{"sh", "-c", "ps -o stat,comm | grep -v '^Z' | grep -c sleep"}, 10*time.Second)
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		// Killed background children become zombies of the container's init (which does
		// not reap): only live ones count.
		t.Fatalf("sleep processes left in the container: %q %v", out, err)
	}
	var f, k, g int
	settled := func() bool { // exited goroutines finish in their own time
		f, k, g = countFDs(), countChildren(), goruntime.NumGoroutine()
		return f <= fds && k <= kids && g <= gor
	}
	eventually(t, "no fd, child or goroutine left after timeouts", settled)
	t.Logf("fds %d→%d children %d→%d goroutines %d→%d", fds, f, kids, k, gor, g)
	if err := m.Stop(ctx, st.ID, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, _, _, err := m.ExecSync(ctx, st.ID, []string{"true"}, 0); !isKind(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("exec in stopped container: %v", err)
	}
}

func TestStopSignalAndTimeout(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	// Exits 0 on SIGTERM.
	a := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done"}
	})
	// Ignores SIGTERM: killed at the timeout.
	b := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.05; done"}
	})
	for _, c := range []Status{a, b} { // the shells say "ready" once their traps are installed
		eventually(t, c.Name+" ready", func() bool { b, _ := os.ReadFile(c.LogPath); return strings.Contains(string(b), " F ready\n") })
	}
	if err := m.Stop(ctx, a.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Status(a.ID); st.State != StateExited || st.ExitCode != 0 || st.Reason != ReasonCompleted {
		t.Fatalf("after SIGTERM: %+v", st)
	}
	t0 := time.Now()
	if err := m.Stop(ctx, b.ID, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 500*time.Millisecond || d > 30*time.Second { // ≥ the grace period; < ∞
		t.Fatalf("stop with timeout took %v", d)
	}
	if st, _ := m.Status(b.ID); st.State != StateExited || st.ExitCode != 137 {
		t.Fatalf("after SIGKILL: %+v", st)
	}
	if err := m.Stop(ctx, "unknown", 0); err != nil {
		t.Fatalf("stop unknown: %v", err)
	}
	// Remove of a running container kills it.
	c := startSleeper(t, m, pod, nil)
	if err := m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if pidAlive(c.Pid) {
		t.Fatalf("pid %d alive after remove", c.Pid)
	}
	_ = fmt.Sprint()
}
