package cri

import (
	"context"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Attach checks that the container runs and returns the streaming server's URL for an
// attach session to its stdio.
func (s *Server) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	id, err := s.runningContainer(req.GetContainerId(), "attach to")
	if err != nil {
		return nil, err
	}
	ss, err := s.streaming()
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.ContainerId = id
	return ss.GetAttach(r)
}
