package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// UpdatePodSandboxResources applies new pod-level resources to the pod cgroup and records
// them (with the overhead). Invalid values are InvalidArgument and change nothing.
func (s *Server) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, fmt.Errorf("pod sandboxes: not configured: %w", errdefs.ErrNotImplemented)
	}
	for name, r := range map[string]*runtimeapi.LinuxContainerResources{"overhead": req.GetOverhead(), "resources": req.GetResources()} {
		if _, err := resourcesFromCRI(r); r != nil && err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	err := s.opts.Sandboxes.UpdateResources(ctx, req.GetPodSandboxId(), podResources(req.GetOverhead()), podResources(req.GetResources()))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
