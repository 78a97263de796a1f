package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// criuUnusable says why checkpointing is not offered. Checked on the target hosts (Debian 12,
// kernel 6.18): Debian's CRIU 3.17 fails `criu check` with "vdso: Unexpected rt vDSO area
// bounds" — it predates the kernel's vDSO layout — so libcontainer's Checkpoint cannot work.
const criuUnusable = "checkpoint needs CRIU, and Debian's CRIU (3.17) does not work on this kernel " +
	"(`criu check`: vdso: Unexpected rt vDSO area bounds)"

// CheckpointContainer is not supported: CRIU does not work on the hosts crishim targets. An
// unknown container is still NotFound.
func (s *Server) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	_, st, err := s.findContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("checkpoint container %q: %s: %w", st.ID, criuUnusable, errdefs.ErrNotImplemented)
}
