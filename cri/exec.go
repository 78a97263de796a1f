package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// Exec checks that the container runs and returns the streaming server's URL for an
// interactive exec session in it.
func (s *Server) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if len(req.GetCmd()) == 0 || req.GetCmd()[0] == "" {
		return nil, fmt.Errorf("cmd: required: %w", errdefs.ErrInvalidArgument)
	}
	id, err := s.runningContainer(req.GetContainerId(), "exec in")
	if err != nil {
		return nil, err
	}
	ss, err := s.streaming()
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.ContainerId = id
	return ss.GetExec(r)
}
