package cri

import (
	"context"
	"errors"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// RemoveContainer removes a container, killing it first if it runs. Removing an unknown
// container succeeds (the CRI asks for idempotence).
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	rt, st, err := s.findContainer(req.GetContainerId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := rt.Remove(ctx, st.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, fmt.Errorf("remove container %q: %w", st.ID, err)
	}
	s.creates.forget(st.ID)
	s.publishEvent(ctx, st.ID, st.PodID, evDeleted)
	return &runtimeapi.RemoveContainerResponse{}, nil
}
