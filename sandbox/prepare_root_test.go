package sandbox

import (
	"context"
	"sync"
	"testing"
)

// preparingContainers is a fakeContainers that is also a PodPreparer.
type preparingContainers struct {
	*fakeContainers
	mu       sync.Mutex
	prepared map[string]int
}

func (p *preparingContainers) PreparePod(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepared[id]++
	return nil
}

// TestRootRunPreparesRuntime checks that RunPodSandbox prepares the runtime for the pod
// before it returns, and that a failed run has the runtime release it.
func TestRootRunPreparesRuntime(t *testing.T) {
	e := newEnv(t)
	pc := &preparingContainers{fakeContainers: e.ctrs, prepared: map[string]int{}}
	net := &fakeNetwork{attached: map[string]bool{}}
	m, err := New(DefaultConfig(), e.root, e.state, e.cgParent, net, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := m.Run(context.Background(), podConfig("prep"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.prepared[sb.ID] != 1 {
		t.Fatalf("PreparePod calls for %s: %v, want 1 before Run returns", sb.ID, pc.prepared)
	}
	if err := m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	net.failSetup = true
	if _, err := m.Run(context.Background(), podConfig("prepfail")); err == nil {
		t.Fatal("run with a failing network succeeded")
	}
	for id, n := range pc.prepared {
		if e.ctrs.remove[id] == 0 {
			t.Errorf("pod %s prepared %d times, never released (RemovePodContainers)", id, n)
		}
	}
	if len(pc.prepared) != 2 {
		t.Fatalf("prepared pods %v, want 2", pc.prepared)
	}
}
