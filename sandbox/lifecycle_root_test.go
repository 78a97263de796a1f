package sandbox

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
	"golang.org/x/sys/unix"
)

func TestRootNoLeaks50(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}}
	m := e.manager(t, net)
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 50; i++ {
		c := podConfig("leak")
		c.Attempt = uint32(i)
		if i%2 == 0 {
			c.Namespaces.PID = NamespaceModePod
		}
		sb, err := m.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(sb.IPs) != 1 {
			t.Fatalf("ips %v", sb.IPs)
		}
		if err := m.Stop(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("50 pods run+stop+remove in %v", time.Since(start))
	if len(net.attached) != 0 || len(m.List()) != 0 {
		t.Fatalf("attached %v, pods %d", net.attached, len(m.List()))
	}
}

func TestRootTeardownFailureRetried(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}}
	m := e.manager(t, net)
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("net"))
	if err != nil || len(sb.IPs) != 1 {
		t.Fatalf("run: %v %+v", err, sb.IPs)
	}
	net.failTeardown = true
	if err := m.Stop(ctx, sb.ID); err == nil {
		t.Fatal("stop succeeded with a failing teardown")
	}
	if err := m.Remove(ctx, sb.ID); err == nil {
		t.Fatal("remove succeeded with a failing teardown")
	}
	if got, err := m.Get(sb.ID); err != nil || got.State != StateNotReady {
		t.Fatalf("after failed stop: %v %v", got.State, err)
	}
	net.failTeardown = false
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if len(net.attached) != 0 {
		t.Fatal("still attached")
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRootConcurrentRunSameName(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	var wg sync.WaitGroup
	ids := make([]string, 4)
	errs := make([]error, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb, err := m.Run(context.Background(), podConfig("same"))
			ids[i], errs[i] = sb.ID, err
		}()
	}
	wg.Wait()
	// Every call either joined the flight (same id) or came after it (AlreadyExists).
	var id string
	for i := range ids {
		if errs[i] == nil {
			if id != "" && ids[i] != id {
				t.Fatalf("two pods for one name: %s %s", id, ids[i])
			}
			id = ids[i]
		} else if !errors.Is(errs[i], errdefs.ErrAlreadyExists) {
			t.Fatal(errs[i])
		}
	}
	// A caller that gave up: the next retry gets the finished pod.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := podConfig("abandoned")
	if _, err := m.Run(ctx, c); !errors.Is(err, errdefs.ErrDeadlineExceeded) {
		t.Fatalf("cancelled run: %v", err)
	}
	var sb Sandbox
	var err error
	for i := 0; i < 200; i++ { // the abandoned creation is still running: retries join or claim it
		if sb, err = m.Run(context.Background(), c); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || sb.State != StateReady {
		t.Fatalf("retry: %v", err)
	}
	if _, err := m.Run(context.Background(), c); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("third run: %v", err)
	}
	for _, p := range m.List() {
		if err := m.Remove(context.Background(), p.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRootRestartReload(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	plain, err := m.Run(ctx, podConfig("plain"))
	if err != nil {
		t.Fatal(err)
	}
	c := podConfig("infra")
	c.Namespaces.PID = NamespaceModePod
	infra, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	hc := podConfig("half")
	hc.Namespaces.PID = NamespaceModePod
	half, err := m.Run(ctx, hc)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the daemon died while creating "half", after starting its infra process but
	// before recording its pid.
	rec := m.pods[half.ID].rec
	rec.Phase, rec.InfraPID = phaseCreating, 0
	if err := store.WriteJSON(m.recordPath(half.ID), rec); err != nil {
		t.Fatal(err)
	}
	m.Close()

	m2 := e.manager(t, nil)
	if _, err := m2.Get(half.ID); !errors.Is(err, errdefs.ErrNotFound) || isNsfs(half.NetNSPath) {
		t.Fatalf("half-created pod not cleaned: %v", err)
	}
	if alive(half.InfraPID, m.pods[half.ID].rec.InfraStart) {
		t.Fatal("infra of the half-created pod still alive")
	}
	for _, id := range []string{plain.ID, infra.ID} {
		if sb, err := m2.Get(id); err != nil || sb.State != StateReady {
			t.Fatalf("pod %s after restart: %v %v", id, sb.State, err)
		}
	}
	// The infra dies while the daemon is down: NotReady after restart.
	m2.Close()
	unix.Kill(infra.InfraPID, unix.SIGKILL)
	for i := 0; i < 500 && alive(infra.InfraPID, m2.pods[infra.ID].rec.InfraStart); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	m3 := e.manager(t, nil)
	if sb, _ := m3.Get(infra.ID); sb.State != StateNotReady {
		t.Fatalf("infra pod after its infra died: %v", sb.State)
	}
	if len(m3.List()) != 2 {
		t.Fatalf("list %d", len(m3.List()))
	}
	for _, id := range []string{plain.ID, infra.ID} {
		if err := m3.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(plain.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin left: %v", err)
	}
}

func TestRootConcurrentStopRemove(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, &fakeNetwork{attached: map[string]bool{}})
	ctx := context.Background()
	c := podConfig("race")
	c.Namespaces.PID = NamespaceModePod
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := 0; i < 3; i++ {
		wg.Add(3)
		go func() { defer wg.Done(); errs <- m.Stop(ctx, sb.ID) }()
		go func() { defer wg.Done(); errs <- m.Remove(ctx, sb.ID) }()
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				m.Get(sb.ID)
				m.List()
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := m.Get(sb.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("pod still there: %v", err)
	}
}

func TestRootFailedRunCleansUp(t *testing.T) {
	e := newEnv(t)
	net := &fakeNetwork{attached: map[string]bool{}, failSetup: true}
	m := e.manager(t, net)
	c := podConfig("fail")
	c.Namespaces.PID = NamespaceModePod
	if _, err := m.Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "injected setup failure") {
		t.Fatalf("run: %v", err)
	}
	if len(net.attached) != 0 || len(m.List()) != 0 {
		t.Fatalf("after failed run: attached %v, pods %d", net.attached, len(m.List()))
	}
	// The name is free again.
	net.failSetup = false
	sb, err := m.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
}
