package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// UpdateContainerResources changes the cgroup limits of a created or running container;
// ContainerStatus then reports them. Negative or absurd values are InvalidArgument and
// change nothing. Only Linux resources are supported.
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	if req.GetLinux() == nil {
		return nil, fmt.Errorf("linux: resources required: %w", errdefs.ErrInvalidArgument)
	}
	res, err := resourcesFromCRI(req.GetLinux())
	if err != nil {
		return nil, err
	}
	st, err := lookupContainer(rt, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := rt.UpdateResources(ctx, st.ID, res); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}
