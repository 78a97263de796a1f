package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartContainer starts a created container. Unknown ids are NotFound.
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	rt, st, err := s.findContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := rt.Start(ctx, st.ID); err != nil {
		return nil, fmt.Errorf("start container %q: %w", st.ID, err)
	}
	s.publishEvent(ctx, st.ID, st.PodID, evStarted)
	return &runtimeapi.StartContainerResponse{}, nil
}
