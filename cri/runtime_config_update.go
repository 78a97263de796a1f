package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// PodCIDRUpdater takes the node's pod CIDR(s) from the kubelet ("a" or "a,b"; empty: nothing
// to do). *cni.Manager satisfies it.
type PodCIDRUpdater interface {
	UpdatePodCIDR(ctx context.Context, cidr string) error
}

// UpdateRuntimeConfig passes the node's pod CIDR, the only field of the runtime config, to
// the pod network.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if s.opts.PodCIDR == nil {
		if cidr == "" {
			return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
		}
		return nil, fmt.Errorf("pod CIDR %q: no pod network is configured: %w", cidr, errdefs.ErrNotImplemented)
	}
	if err := s.opts.PodCIDR.UpdatePodCIDR(ctx, cidr); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
