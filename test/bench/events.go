package bench

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// receivedEvent is a container event with the local time it arrived.
type receivedEvent struct {
	ev *runtimeapi.ContainerEventResponse
	at time.Time
}

// eventStream is an open GetContainerEvents stream read by a goroutine.
type eventStream struct {
	events chan receivedEvent
	errs   chan error
	cancel context.CancelFunc
}

func openEvents(ctx context.Context, e *Endpoint) (*eventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := e.RT.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		cancel()
		return nil, rpcErr("GetContainerEvents", err)
	}
	es := &eventStream{events: make(chan receivedEvent, 1024), errs: make(chan error, 1), cancel: cancel}
	go func() {
		for {
			ev, err := st.Recv()
			if err != nil {
				es.errs <- rpcErr("GetContainerEvents", err)
				return
			}
			es.events <- receivedEvent{ev: ev, at: time.Now()}
		}
	}()
	return es, nil
}

// wait returns the first event of the given type for the container, skipping others.
func (es *eventStream) wait(id string, typ runtimeapi.ContainerEventType, timeout time.Duration) (receivedEvent, error) {
	deadline := time.After(timeout)
	for {
		select {
		case re := <-es.events:
			if re.ev.ContainerId == id && re.ev.ContainerEventType == typ {
				return re, nil
			}
		case err := <-es.errs:
			es.errs <- err
			return receivedEvent{}, err
		case <-deadline:
			return receivedEvent{}, fmt.Errorf("no %s for container %s within %s", typ, id, timeout)
		}
	}
}

// runEvents watches GetContainerEvents while containers start and stop in a running pod:
// delivery is arrival time minus the event's own timestamp; after-return is arrival time
// minus the return of StartContainer/StopContainer (negative: the event came first).
func runEvents(ctx context.Context, s *ScenarioRun) {
	r := s.R
	pods := setupPods(ctx, s)
	streams := map[string]*eventStream{}
	defer func() {
		for _, es := range streams {
			es.cancel()
		}
	}()
	s.Each(ctx, func(ctx context.Context, e *Endpoint) (err error) {
		streams[e.Name], err = openEvents(ctx, e)
		return err
	})
	s.Interleave(ctx, r.Opts.EventReps, func(ctx context.Context, e *Endpoint, rep int) error {
		return eventCycle(ctx, s, e, pods[e.Name], streams[e.Name], rep)
	})
}

// eventCycle creates, starts, stops and removes one container and records its events.
func eventCycle(ctx context.Context, s *ScenarioRun, e *Endpoint, pod Pod, es *eventStream, rep int) error {
	r := s.R
	ctx, cancel := r.rpcCtx(ctx)
	defer cancel()
	ctr, err := e.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.ID,
		Config: r.ContainerConfig(fmt.Sprintf("ev%d", rep), pod.Config), SandboxConfig: pod.Config})
	if err != nil {
		return rpcErr("CreateContainer", err)
	}
	id := ctr.ContainerId
	steps := []struct {
		name string
		typ  runtimeapi.ContainerEventType
		call func() error
	}{
		{"started", runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, func() error {
			_, err := e.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
			return rpcErr("StartContainer", err)
		}},
		{"stopped", runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, func() error {
			_, err := e.RT.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10})
			return rpcErr("StopContainer", err)
		}},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			return err
		}
		returned := time.Now()
		re, err := es.wait(id, st.typ, 10*time.Second)
		if err != nil {
			return err
		}
		s.Record(e, st.name+".delivery", "ms", LowerIsBetter, ms(re.at.Sub(time.Unix(0, re.ev.CreatedAt))))
		s.Record(e, st.name+".after-return", "ms", LowerIsBetter, ms(re.at.Sub(returned)))
	}
	_, err = e.RT.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
	return rpcErr("RemoveContainer", err)
}
