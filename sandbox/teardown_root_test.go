package sandbox

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// Issue 14 item 6: any pod can always be stopped and removed, whatever failed while it was
// made or while it is torn down; env.checkClean (at cleanup) finds nothing left.

// TestRootFailedRunWithFailingTeardownLeavesNothing: ADD fails and the DEL that undoes it
// fails too: Run fails, and no pod, pin, mount or cgroup is left (the pod's network is left
// to the network's garbage collection).
func TestRootFailedRunWithFailingTeardownLeavesNothing(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}, failSetup: true, failTeardown: true}
	m := e.manager(t, net)
	t.Cleanup(func() { removeLeft(m, net) })
	c := podConfig("addfail")
	c.Namespaces.PID = NamespaceModePod
	if _, err := m.Run(context.Background(), c); err == nil {
		t.Fatal("run with a failing ADD succeeded")
	}
	if n := len(m.List()); n != 0 {
		t.Fatalf("%d pods listed after a failed run whose DEL failed, want 0", n)
	}
}

// TestRootTeardownFailurePermanent: DEL fails with a cause retrying cannot fix (a plugin
// missing, bad input): Stop succeeds at once and Remove follows.
func TestRootTeardownFailurePermanent(t *testing.T) {
	for name, kind := range map[string]error{"plugin missing": errdefs.ErrFailedPrecondition, "bad input": errdefs.ErrInvalidArgument} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			net := &fakeNetwork{attached: map[string]bool{}}
			m := e.manager(t, net)
			t.Cleanup(func() { removeLeft(m, net) })
			ctx := context.Background()
			sb, err := m.Run(ctx, podConfig("perm"))
			if err != nil {
				t.Fatal(err)
			}
			net.failTeardown, net.teardownErr = true, fmt.Errorf("injected: %w", kind)
			if err := m.Stop(ctx, sb.ID); err != nil {
				t.Fatalf("stop with a permanently failing DEL: %v", err)
			}
			if err := m.Remove(ctx, sb.ID); err != nil {
				t.Fatalf("remove with a permanently failing DEL: %v", err)
			}
			if n := len(m.List()); n != 0 {
				t.Fatalf("%d pods listed after remove", n)
			}
		})
	}
}

// TestRootTeardownFailureNeverRecovers: DEL keeps failing with a cause that looked
// temporary: Stop and Remove fail a bounded number of times (the caller retries), then give
// up on the network and succeed.
func TestRootTeardownFailureNeverRecovers(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}, failTeardown: true}
	m := e.manager(t, net)
	t.Cleanup(func() { removeLeft(m, net) })
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("stuck"))
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for ; failed < 10 && m.Stop(ctx, sb.ID) != nil; failed++ {
	}
	if failed == 0 || failed >= 10 {
		t.Fatalf("stop failed %d times with a DEL that always fails, want at least once and then success", failed)
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatalf("remove after stop gave up on the network: %v", err)
	}
	if n := len(m.List()); n != 0 {
		t.Fatalf("%d pods listed after remove", n)
	}
	t.Logf("stop failed %d times, then gave up on the network (%d DEL calls)", failed, net.teardowns)
}

// TestRootDeadInfraStopRemove: the infra process of a shared-PID pod was killed: Stop and
// Remove succeed.
func TestRootDeadInfraStopRemove(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}}
	m := e.manager(t, net)
	t.Cleanup(func() { removeLeft(m, net) })
	c := podConfig("deadinfra")
	c.Namespaces.PID = NamespaceModePod
	ctx := context.Background()
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	pid := m.pods[sb.ID].rec.InfraPID
	m.mu.Unlock()
	if pid <= 0 {
		t.Fatalf("no infra pid for a shared-PID pod")
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatalf("stop with a dead infra: %v", err)
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatalf("remove with a dead infra: %v", err)
	}
}

// removeLeft removes the pods a failed check left, with the network fault off, so that a
// regression fails its test instead of hanging the cleanup on a cgroup still in use.
func removeLeft(m *Manager, net *fakeNetwork) {
	net.mu.Lock()
	net.failTeardown, net.failSetup = false, false
	net.mu.Unlock()
	for _, sb := range m.List() {
		if err := m.Remove(context.Background(), sb.ID); err != nil {
			m.log.Error("test cleanup: remove pod", "pod", sb.ID, "err", err)
		}
	}
}
