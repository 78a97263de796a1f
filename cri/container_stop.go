package cri

import (
	"context"
	"errors"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// StopContainer stops a running container: the stop signal, then SIGKILL after timeout
// seconds (0 or less: at once). Stopping an unknown or stopped container succeeds (the CRI
// asks for idempotence).
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	rt, st, err := s.findContainer(req.GetContainerId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	timeout := seconds(req.GetTimeout())
	if err := rt.Stop(ctx, st.ID, timeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, fmt.Errorf("stop container %q: %w", st.ID, err)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}
