package runtime

import (
	"context"
	"fmt"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"

	"github.com/crishim/crishim/internal/cglimits"
	"github.com/crishim/crishim/internal/errdefs"
)

func validateResources(r Resources) error {
	bad := func(f string, v int64) error {
		return fmt.Errorf("resources: %s %d: %w", f, v, errdefs.ErrInvalidArgument)
	}
	switch {
	case r.CPUShares < 0:
		return bad("cpu_shares", r.CPUShares)
	case r.CPUPeriod < 0:
		return bad("cpu_period", r.CPUPeriod)
	case r.CPUQuota < -1:
		return bad("cpu_quota", r.CPUQuota)
	case r.MemoryLimitInBytes < 0:
		return bad("memory_limit_in_bytes", r.MemoryLimitInBytes)
	case r.MemorySwapLimitInBytes < -1:
		return bad("memory_swap_limit_in_bytes", r.MemorySwapLimitInBytes)
	case r.PidsLimit < -1:
		return bad("pids_limit", r.PidsLimit)
	case r.OOMScoreAdj < -1000 || r.OOMScoreAdj > 1000:
		return bad("oom_score_adj", r.OOMScoreAdj)
	}
	if err := cglimits.Check(r.CPUShares, r.CPUPeriod, r.CPUQuota, r.MemoryLimitInBytes); err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	return nil
}

// UpdateResources changes the cgroup limits of a created or running container (like
// `runc update`) and records them. oom_score_adj cannot change after start and is ignored.
func (m *Manager) UpdateResources(ctx context.Context, id string, r Resources) error {
	if err := validateResources(r); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	c, err := m.get(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	st := c.currentState()
	if st != StateRunning && st != StateCreated {
		return fmt.Errorf("container %q is %s: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	lc, err := libcontainer.Load(m.lcRoot, id)
	if err != nil {
		return fmt.Errorf("container %q is not running: %w: %w", id, errdefs.ErrFailedPrecondition, err)
	}
	cfg := lc.Config()
	res := cfg.Cgroups.Resources
	// Zero fields leave the cgroup value unchanged (libcontainer skips them).
	res.CpuShares, res.CpuQuota, res.CpuPeriod = uint64(r.CPUShares), r.CPUQuota, uint64(r.CPUPeriod)
	if m.host.CgroupV2 && r.CPUShares > 0 {
		// libcontainer's cgroup2 manager writes cpu.weight only: shares are converted when a
		// spec becomes a config, which an update skips (runc update converts them too).
		res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(uint64(r.CPUShares))
	}
	res.CpusetCpus, res.CpusetMems = r.CpusetCpus, r.CpusetMems
	res.Memory, res.MemorySwap = r.MemoryLimitInBytes, r.MemorySwapLimitInBytes
	if r.PidsLimit != 0 {
		v := r.PidsLimit
		res.PidsLimit = &v
	}
	if m.host.CgroupV2 && len(r.Unified) > 0 {
		res.Unified = r.Unified
	}
	if len(r.HugepageLimits) > 0 {
		m.updateHugetlb(id, cfg.Cgroups.Path, res, r.HugepageLimits)
	}
	if err := lc.Set(cfg); err != nil {
		return fmt.Errorf("update resources of container %q: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.Spec.Resources = mergeResources(c.rec.Spec.Resources, r)
	return c.save()
}

// updateHugetlb sets the new hugepage limits into res where the container's cgroup has the
// hugetlb controller, and drops them (as at create) where it has not.
func (m *Manager) updateHugetlb(id, cgroupPath string, res *cgroups.Resources, limits []HugepageLimit) {
	if !cglimits.HugetlbAvailable(m.host.CgroupV2, cgroupPath) {
		m.log.Debug("hugetlb cgroup controller not available: hugepage limits dropped",
			"container", id, "limits", len(limits))
		return
	}
	res.HugetlbLimit = res.HugetlbLimit[:0]
	for _, h := range limits {
		res.HugetlbLimit = append(res.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: h.PageSize, Limit: h.Limit})
	}
}

// mergeResources applies the set (non-zero) fields of upd to cur: zero means "unchanged",
// as it does for the cgroup writes.
func mergeResources(cur, upd Resources) Resources {
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&cur.CPUShares, upd.CPUShares)
	set(&cur.CPUQuota, upd.CPUQuota)
	set(&cur.CPUPeriod, upd.CPUPeriod)
	set(&cur.MemoryLimitInBytes, upd.MemoryLimitInBytes)
	set(&cur.MemorySwapLimitInBytes, upd.MemorySwapLimitInBytes)
	set(&cur.PidsLimit, upd.PidsLimit)
	if upd.CpusetCpus != "" {
		cur.CpusetCpus = upd.CpusetCpus
	}
	if upd.CpusetMems != "" {
		cur.CpusetMems = upd.CpusetMems
	}
	if len(upd.Unified) > 0 {
		cur.Unified = upd.Unified
	}
	if len(upd.HugepageLimits) > 0 {
		cur.HugepageLimits = upd.HugepageLimits
	}
	return cur
}
