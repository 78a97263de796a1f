package cri

import (
	"context"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
)

// exitingRuntime is a fakeRuntime that reports exits like runtime.Manager: Stop records the
// exit and calls the hooks before returning; exit() simulates a container ending on its own.
type exitingRuntime struct {
	*fakeRuntime
	hmu   sync.Mutex
	hooks []func(runtime.ExitEvent)
}

func (f *exitingRuntime) OnExit(fn func(runtime.ExitEvent)) {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	f.hooks = append(f.hooks, fn)
}

func (f *exitingRuntime) exit(id string, code int32) {
	var ev runtime.ExitEvent
	f.set(id, func(st *runtime.Status) {
		st.State, st.ExitCode, st.FinishedAt = runtime.StateExited, code, time.Unix(3000, 0)
		ev = runtime.ExitEvent{ID: id, PodID: st.PodID, ExitCode: code}
	})
	f.hmu.Lock()
	hooks := append([]func(runtime.ExitEvent){}, f.hooks...)
	f.hmu.Unlock()
	for _, h := range hooks {
		h(ev)
	}
}

func (f *exitingRuntime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if st, err := f.Status(id); err == nil && st.State == runtime.StateRunning {
		f.exit(id, 137)
	}
	return nil
}

type gotEvent struct {
	id    string
	typ   runtimeapi.ContainerEventType
	state runtimeapi.ContainerState // of id in the attached container statuses
	pod   string
}

// TestContainerEventsLifecycle runs two containers through create, start, exit (one on its
// own, one stopped) and remove, and checks that two concurrent subscribers see the same
// events in order, each with the pod status and the container's new state attached.
func TestContainerEventsLifecycle(t *testing.T) {
	rt := &exitingRuntime{fakeRuntime: newFakeRuntime()}
	srv := NewServer(Options{Containers: rt, PodLookup: fakeSandboxes{"pod1": testPod()}, ImageResolver: testImages()})
	rc, _ := dialServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var streams []runtimeapi.RuntimeService_GetContainerEventsClient
	for range 2 {
		st, err := rc.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	waitFor(t, func() bool { return srv.events.subscribers() == 2 })

	var ids []string
	for _, name := range []string{"a", "b"} {
		r, err := rc.CreateContainer(ctx, createReq("pod1", name))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ContainerId)
		if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := ids[0], ids[1]
	rt.exit(a, 0) // ends on its own
	if _, err := rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: b}); err != nil {
		t.Fatal(err)
	}
	// A second stop of a stopped container publishes nothing.
	if _, err := rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: b}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
	}
	C, S, X, D := evCreated, evStarted, evStopped, evDeleted
	running, created, exited := runtimeapi.ContainerState_CONTAINER_RUNNING, runtimeapi.ContainerState_CONTAINER_CREATED, runtimeapi.ContainerState_CONTAINER_EXITED
	gone := runtimeapi.ContainerState(-1)
	want := []gotEvent{
		{a, C, created, "pod1"}, {a, S, running, "pod1"}, {b, C, created, "pod1"}, {b, S, running, "pod1"},
		{a, X, exited, "pod1"}, {b, X, exited, "pod1"}, {a, D, gone, "pod1"}, {b, D, gone, "pod1"},
	}
	for i, st := range streams {
		for j, w := range want {
			ev, err := st.Recv()
			if err != nil {
				t.Fatalf("subscriber %d event %d: %v", i, j, err)
			}
			got := gotEvent{id: ev.ContainerId, typ: ev.ContainerEventType, state: gone, pod: ev.GetPodSandboxStatus().GetId()}
			for _, cs := range ev.ContainersStatuses {
				if cs.Id == ev.ContainerId {
					got.state = cs.State
				}
			}
			if got != w {
				t.Fatalf("subscriber %d event %d: got %+v, want %+v", i, j, got, w)
			}
			if ev.CreatedAt == 0 {
				t.Errorf("event %d has no timestamp", j)
			}
		}
	}
}
