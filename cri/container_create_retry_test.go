package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A kubelet retry of a create that is still running (its first caller gave up) or that
// finished meanwhile gets the container; a different request for the same name does not.
func TestCreateContainerRetry(t *testing.T) {
	rc, rt := containerServer(t)
	rt.gate, rt.started = make(chan struct{}), make(chan struct{}, 4)

	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := rc.CreateContainer(ctx1, createReq("pod1", "c"))
		first <- err
	}()
	<-rt.started // the create is running inside the runtime
	cancel1()
	if err := <-first; status.Code(err) != codes.Canceled {
		t.Fatalf("first caller: %v, want Canceled", err)
	}

	other := createReq("pod1", "c")
	other.Config.Command = []string{"different"}
	_, err := rc.CreateContainer(context.Background(), other)
	wantCode(t, "different request while in flight", err, codes.AlreadyExists, "pod1/c/2")

	retry := make(chan *runtimeapi.CreateContainerResponse, 1)
	go func() {
		resp, err := rc.CreateContainer(context.Background(), createReq("pod1", "c"))
		if err != nil {
			t.Errorf("retry: %v", err)
		}
		retry <- resp
	}()
	close(rt.gate)
	id := (<-retry).GetContainerId()
	if id == "" {
		t.Fatal("retry got no id")
	}
	again, err := rc.CreateContainer(context.Background(), createReq("pod1", "c"))
	if err != nil || again.ContainerId != id {
		t.Errorf("retry after finish: %v, %v; want %s", again, err, id)
	}
	_, err = rc.CreateContainer(context.Background(), other)
	wantCode(t, "different request after finish", err, codes.AlreadyExists, id)
	if rt.creates != 2 || len(rt.List()) != 1 {
		t.Errorf("runtime saw %d creates and holds %d containers, want 2 (one refused) and 1", rt.creates, len(rt.List()))
	}
}

// After a daemon restart (a fresh Server, so no memory of the create) the identical request
// gets the container it made, recognised by the request hash persisted with it; a different
// request for the same name still gets AlreadyExists.
func TestCreateContainerRetryAfterRestart(t *testing.T) {
	rc, rt := containerServer(t)
	first, err := rc.CreateContainer(context.Background(), createReq("pod1", "c"))
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Containers: rt, PodLookup: fakeSandboxes{"pod1": testPod()}, ImageResolver: testImages()})
	rc2, _ := dialServer(t, srv)
	again, err := rc2.CreateContainer(context.Background(), createReq("pod1", "c"))
	if err != nil || again.ContainerId != first.ContainerId {
		t.Fatalf("identical retry after restart: %v, %v; want %s", again, err, first.ContainerId)
	}
	other := createReq("pod1", "c")
	other.Config.Command = []string{"different"}
	_, err = rc2.CreateContainer(context.Background(), other)
	wantCode(t, "different request after restart", err, codes.AlreadyExists, first.ContainerId)
	if rt.creates != 3 || len(rt.List()) != 1 {
		t.Errorf("runtime saw %d creates and holds %d containers, want 3 (two refused) and 1", rt.creates, len(rt.List()))
	}
}
