package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// PortForward checks the pod and the ports and returns the streaming server's URL for a
// port-forward session into the pod's network namespace.
func (s *Server) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	for _, p := range req.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("port %d: must be in 1-65535: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	if s.opts.PodLookup == nil || s.portDialer() == nil {
		return nil, fmt.Errorf("port forward: no pod sandboxes are configured: %w", errdefs.ErrNotImplemented)
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod_sandbox_id: required: %w", errdefs.ErrInvalidArgument)
	}
	pod, err := s.opts.PodLookup.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	ss, err := s.streaming()
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.PodSandboxId = pod.ID
	return ss.GetPortForward(r)
}
