package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
)

// exitNotifier is implemented by a container runtime that reports container exits
// (*runtime.Manager); the server turns them into CONTAINER_STOPPED events.
type exitNotifier interface {
	OnExit(fn func(runtime.ExitEvent))
}

// Container event types, shorter to read.
const (
	evCreated = runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT
	evStarted = runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT
	evStopped = runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT
	evDeleted = runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT
)

// publishEvent sends a lifecycle event of container (or pod sandbox) id in pod podID to the
// GetContainerEvents subscribers, with the pod's status and the statuses of its containers
// attached (kubelet's evented PLEG reads both). Like containerd, pod sandbox events carry the
// sandbox id as container id. Nothing is built when nobody listens.
func (s *Server) publishEvent(ctx context.Context, id, podID string, typ runtimeapi.ContainerEventType) {
	s.publishEventWith(ctx, id, podID, typ, nil)
}

// publishEventWith is publishEvent with the pod status given (the pod is gone already);
// nil looks it up.
func (s *Server) publishEventWith(ctx context.Context, id, podID string, typ runtimeapi.ContainerEventType, pod *runtimeapi.PodSandboxStatus) {
	if s.events.subscribers() == 0 {
		return
	}
	ev := &runtimeapi.ContainerEventResponse{
		ContainerId: id, ContainerEventType: typ, CreatedAt: time.Now().UnixNano(), PodSandboxStatus: pod,
	}
	if pod == nil && s.opts.PodLookup != nil {
		if sb, err := s.opts.PodLookup.Get(podID); err == nil {
			ev.PodSandboxStatus = criPodStatus(&sb)
		}
	}
	if rt := s.opts.Containers; rt != nil {
		cache := map[string]string{}
		for _, st := range rt.List() {
			if st.PodID == podID {
				ev.ContainersStatuses = append(ev.ContainersStatuses, containerStatusToCRI(st, s.imageRef(ctx, st.Image, cache)))
			}
		}
	}
	s.events.publish(ev)
}

// onContainerExit publishes CONTAINER_STOPPED for a container exit reported by the runtime.
func (s *Server) onContainerExit(ev runtime.ExitEvent) {
	s.publishEvent(context.Background(), ev.ID, ev.PodID, evStopped)
}
