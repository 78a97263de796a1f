package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// PodSandboxStatus reports a pod's state, IPs, namespace options and metadata; verbose adds
// the full record as JSON under info["info"].
func (s *Server) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, errNoSandboxes
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod_sandbox_id: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.opts.Sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: criPodStatus(&sb), Timestamp: time.Now().UnixNano()}
	if req.GetVerbose() {
		b, err := json.Marshal(sb)
		if err != nil {
			return nil, fmt.Errorf("pod %s: encode info: %w", sb.ID, err)
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
