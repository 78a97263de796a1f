package cri

import (
	"fmt"
	"maps"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// resourcesFromCRI converts and checks CRI Linux resources. Zero means "no limit".
// oom_score_adj outside -1000..1000 and negative limits are invalid.
func resourcesFromCRI(r *runtimeapi.LinuxContainerResources) (runtime.Resources, error) {
	res := runtime.Resources{
		CPUShares:              r.GetCpuShares(),
		CPUQuota:               r.GetCpuQuota(),
		CPUPeriod:              r.GetCpuPeriod(),
		CpusetCpus:             r.GetCpusetCpus(),
		CpusetMems:             r.GetCpusetMems(),
		MemoryLimitInBytes:     r.GetMemoryLimitInBytes(),
		MemorySwapLimitInBytes: r.GetMemorySwapLimitInBytes(),
		Unified:                maps.Clone(r.GetUnified()),
		OOMScoreAdj:            r.GetOomScoreAdj(),
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"cpu_shares", res.CPUShares},
		{"cpu_period", res.CPUPeriod},
		{"memory_limit_in_bytes", res.MemoryLimitInBytes},
	} {
		if f.v < 0 {
			return res, fmt.Errorf("resources.%s %d: must not be negative: %w", f.name, f.v, errdefs.ErrInvalidArgument)
		}
	}
	// cpu_quota -1 means unlimited (cgroup v1 semantics), like 0.
	if res.CPUQuota < -1 {
		return res, fmt.Errorf("resources.cpu_quota %d: must be -1 (unlimited) or more: %w", res.CPUQuota, errdefs.ErrInvalidArgument)
	}
	if res.MemorySwapLimitInBytes < -1 {
		return res, fmt.Errorf("resources.memory_swap_limit_in_bytes %d: must be -1 (unlimited) or more: %w", res.MemorySwapLimitInBytes, errdefs.ErrInvalidArgument)
	}
	if res.OOMScoreAdj < -1000 || res.OOMScoreAdj > 1000 {
		return res, fmt.Errorf("resources.oom_score_adj %d: must be between -1000 and 1000: %w", res.OOMScoreAdj, errdefs.ErrInvalidArgument)
	}
	for i, h := range r.GetHugepageLimits() {
		if h.GetPageSize() == "" {
			return res, fmt.Errorf("resources.hugepage_limits[%d].page_size: required: %w", i, errdefs.ErrInvalidArgument)
		}
		res.HugepageLimits = append(res.HugepageLimits, runtime.HugepageLimit{PageSize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	return res, nil
}

// resourcesToCRI reports the applied limits in ContainerStatus.
func resourcesToCRI(r runtime.Resources) *runtimeapi.ContainerResources {
	lx := &runtimeapi.LinuxContainerResources{
		CpuPeriod:              r.CPUPeriod,
		CpuQuota:               r.CPUQuota,
		CpuShares:              r.CPUShares,
		MemoryLimitInBytes:     r.MemoryLimitInBytes,
		OomScoreAdj:            r.OOMScoreAdj,
		CpusetCpus:             r.CpusetCpus,
		CpusetMems:             r.CpusetMems,
		Unified:                maps.Clone(r.Unified),
		MemorySwapLimitInBytes: r.MemorySwapLimitInBytes,
	}
	for _, h := range r.HugepageLimits {
		lx.HugepageLimits = append(lx.HugepageLimits, &runtimeapi.HugepageLimit{PageSize: h.PageSize, Limit: h.Limit})
	}
	return &runtimeapi.ContainerResources{Linux: lx}
}
