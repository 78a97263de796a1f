package cri

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestEventsInOrderToTwoSubscribers(t *testing.T) {
	srv := NewServer(Options{})
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
	types := []runtimeapi.ContainerEventType{
		runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	for _, ty := range types {
		srv.events.publish(&runtimeapi.ContainerEventResponse{ContainerId: "c1", ContainerEventType: ty})
	}
	for i, st := range streams {
		for _, want := range types {
			ev, err := st.Recv()
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			if ev.ContainerEventType != want || ev.ContainerId != "c1" {
				t.Fatalf("subscriber %d got %v, want %v", i, ev.ContainerEventType, want)
			}
		}
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	srv := NewServer(Options{})
	rc, _ := dialServer(t, srv)
	st, err := rc.GetContainerEvents(context.Background(), &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.events.subscribers() == 1 })
	// Publishing never blocks, even with a subscriber that reads nothing.
	done := make(chan struct{})
	go func() {
		for range subscriberBuffer * 4 {
			srv.events.publish(&runtimeapi.ContainerEventResponse{ContainerId: "c"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a slow subscriber")
	}
	var err2 error
	for err2 == nil {
		_, err2 = st.Recv()
	}
	if status.Code(err2) != codes.ResourceExhausted {
		t.Fatalf("slow subscriber ended with %v, want ResourceExhausted", err2)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // catches a hang; a busy machine may be slow
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
