package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/sandbox"
)

// StopPodSandbox stops every container of the pod and detaches it from the network. It
// succeeds for an unknown id.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, errNoSandboxes
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod_sandbox_id: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	before, known := s.opts.Sandboxes.Get(req.GetPodSandboxId())
	if err := s.opts.Sandboxes.Stop(ctx, req.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if known == nil && before.State == sandbox.StateReady {
		s.publishEvent(ctx, before.ID, before.ID, evStopped)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}
