package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// ReopenContainerLog makes the container's monitor reopen its log file after kubelet rotated
// it. A container that is not running is FailedPrecondition (the CRI asks for an error and
// no new file then); unknown ids are NotFound.
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	st, err := lookupContainer(rt, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if st.State != runtime.StateRunning {
		return nil, fmt.Errorf("reopen log of container %q: container is not running (state %s): %w", st.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	if err := rt.ReopenLog(ctx, st.ID); err != nil {
		return nil, fmt.Errorf("reopen log of container %q: %w", st.ID, err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
