package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// ExecSync runs a command in a running container and returns its output and exit code. A
// timeout (seconds, 0 = none) kills the command and its children and answers
// DeadlineExceeded, which kubelet reads as a probe timeout.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 || req.GetCmd()[0] == "" {
		return nil, fmt.Errorf("cmd: required: %w", errdefs.ErrInvalidArgument)
	}
	if req.GetTimeout() < 0 {
		return nil, fmt.Errorf("timeout %d: must not be negative: %w", req.GetTimeout(), errdefs.ErrInvalidArgument)
	}
	st, err := lookupContainer(rt, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if st.State != runtime.StateRunning {
		return nil, fmt.Errorf("exec in container %q: container is not running (state %s): %w", st.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	timeout := seconds(req.GetTimeout())
	stdout, stderr, code, err := rt.ExecSync(ctx, st.ID, req.GetCmd(), timeout)
	if err != nil {
		return nil, fmt.Errorf("exec %q in container %q: %w", req.GetCmd()[0], st.ID, err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout, Stderr: stderr, ExitCode: code}, nil
}
