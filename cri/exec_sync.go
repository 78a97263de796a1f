package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
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
	id, err := s.runningContainer(req.GetContainerId(), "exec in")
	if err != nil {
		return nil, err
	}
	stdout, stderr, code, err := rt.ExecSync(ctx, id, req.GetCmd(), seconds(req.GetTimeout()))
	if err != nil {
		return nil, fmt.Errorf("exec %q in container %q: %w", req.GetCmd()[0], id, err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout, Stderr: stderr, ExitCode: code}, nil
}
