package cri

import (
	"context"
	"sort"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
)

// ListContainers lists the containers matching the filter: id and pod_sandbox_id by prefix
// (a full id is its own prefix), state, and every label of the selector. Newest first.
func (s *Server) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainersResponse{Containers: s.filteredContainers(ctx, rt, req.GetFilter())}, nil
}

// filteredContainers converts the runtime's containers that match f.
func (s *Server) filteredContainers(ctx context.Context, rt ContainerRuntime, f *runtimeapi.ContainerFilter) []*runtimeapi.Container {
	all := rt.List()
	sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	refs := map[string]string{}
	out := make([]*runtimeapi.Container, 0, len(all))
	for _, st := range all {
		if matchContainer(st, f) {
			out = append(out, containerToCRI(st, s.imageRef(ctx, st.Image, refs)))
		}
	}
	return out
}

// matchContainer tells whether st passes every condition of f (nil f matches all).
func matchContainer(st runtime.Status, f *runtimeapi.ContainerFilter) bool {
	if f == nil {
		return true
	}
	if f.GetId() != "" && !strings.HasPrefix(st.ID, f.GetId()) {
		return false
	}
	if f.GetPodSandboxId() != "" && !strings.HasPrefix(st.PodID, f.GetPodSandboxId()) {
		return false
	}
	if f.GetState() != nil && stateToCRI(st.State) != f.GetState().GetState() {
		return false
	}
	for k, v := range f.GetLabelSelector() {
		if got, ok := st.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
