package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// errNoSandboxes is returned by the pod RPCs when no sandbox manager is wired.
var errNoSandboxes = fmt.Errorf("pod sandboxes: %w", errdefs.ErrNotImplemented)

// RunPodSandbox creates and starts a pod sandbox: namespaces, cgroup, files, network.
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, errNoSandboxes
	}
	pc, err := podConfig(req)
	if err != nil {
		return nil, err
	}
	pc.RequestHash = requestHash(req) // a retry after a daemon restart gets the same pod
	sb, err := s.opts.Sandboxes.Run(ctx, pc)
	if err != nil {
		return nil, err
	}
	s.publishEvent(ctx, sb.ID, sb.ID, evCreated)
	s.publishEvent(ctx, sb.ID, sb.ID, evStarted)
	s.logger(ctx).Debug("pod sandbox running", "pod", sb.ID, "name", sb.Name, "namespace", sb.Namespace)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}
