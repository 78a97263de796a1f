package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ReopenContainerLog makes the container's monitor reopen its log file after kubelet rotated
// it. A container that is not running is FailedPrecondition (the CRI asks for an error and
// no new file then); unknown ids are NotFound.
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	id, err := s.runningContainer(req.GetContainerId(), "reopen log of")
	if err != nil {
		return nil, err
	}
	if err := rt.ReopenLog(ctx, id); err != nil {
		return nil, fmt.Errorf("reopen log of container %q: %w", id, err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
