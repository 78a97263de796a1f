package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
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

// runningContainer resolves a container id (or unique prefix) to the full id of a running
// container: NotFound for an unknown one, FailedPrecondition naming it when it is not
// running. verb describes the operation in the message.
func (s *Server) runningContainer(id, verb string) (string, error) {
	rt, err := s.containers()
	if err != nil {
		return "", err
	}
	st, err := lookupContainer(rt, id)
	if err != nil {
		return "", err
	}
	if st.State != runtime.StateRunning {
		return "", fmt.Errorf("%s container %q: container is not running (state %s): %w", verb, st.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	return st.ID, nil
}
