package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/sandbox"
)

// RemovePodSandbox stops the pod if needed and removes its containers, namespaces, cgroup and
// files. It succeeds for an unknown id.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, errNoSandboxes
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod_sandbox_id: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	before, known := s.opts.Sandboxes.Get(req.GetPodSandboxId())
	var ctrs []string
	if known == nil && s.opts.Containers != nil {
		for _, st := range s.opts.Containers.List() {
			if st.PodID == before.ID {
				ctrs = append(ctrs, st.ID)
			}
		}
	}
	if err := s.opts.Sandboxes.Remove(ctx, req.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if known == nil {
		// Like containerd: the pod's containers are deleted, then the sandbox. The pod is
		// gone: the events carry its last status, not ready.
		s.pods.rates.Forget("pod/" + before.ID)
		last := criPodStatus(&before)
		last.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		for _, id := range ctrs {
			s.creates.forget(id)
			s.publishEventWith(ctx, id, before.ID, evDeleted, last)
		}
		if before.State == sandbox.StateReady {
			s.publishEventWith(ctx, before.ID, before.ID, evStopped, last)
		}
		s.publishEventWith(ctx, before.ID, before.ID, evDeleted, last)
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
