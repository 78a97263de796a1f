package sandbox

import (
	"context"
	"fmt"
	"math"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/crishim/crishim/internal/cglimits"
	"github.com/crishim/crishim/internal/errdefs"
)

// ValidateResources rejects negative or absurd pod resources; zero fields mean "unset".
func ValidateResources(r *Resources) error {
	if r == nil {
		return nil
	}
	return cglimits.Check(r.CPUShares, r.CPUPeriod, r.CPUQuota, r.MemoryLimitBytes)
}

// UpdateResources records new pod-level resources and overhead (nil: as recorded) and
// applies their sum to the pod cgroup (cgroup v1 or v2) when crishim created it; a pod cgroup
// the kubelet created is the kubelet's to size (UpdatePodSandboxResources comes after it
// did). Zero fields leave the cgroup value unchanged. Invalid values change nothing.
func (m *Manager) UpdateResources(ctx context.Context, podID string, overhead, res *Resources) error {
	for _, r := range []*Resources{overhead, res} {
		if err := ValidateResources(r); err != nil {
			return fmt.Errorf("pod sandbox %q: %w", podID, err)
		}
	}
	p, err := m.lookup(podID)
	if err != nil {
		return err
	}
	p.op.Lock()
	defer p.op.Unlock()
	m.mu.Lock()
	id, path, owned := p.rec.ID, p.rec.CgroupParent, p.rec.OwnsCgroup
	newOver, newRes := p.rec.Overhead, p.rec.Resources
	m.mu.Unlock()
	if overhead != nil {
		newOver = overhead
	}
	if res != nil {
		newRes = res
	}
	if limits := podLimits(newOver, newRes); limits != nil && owned && path != "" {
		if err := updateCgroup(path, limits); err != nil {
			return fmt.Errorf("pod sandbox %q: %w", id, err)
		}
	}
	return m.update(p, func(r *record) {
		if overhead != nil {
			o := *overhead
			r.Overhead = &o
		}
		if res != nil {
			x := *res
			r.Resources = &x
		}
	})
}

// updateCgroup writes res into the existing pod cgroup.
func updateCgroup(path string, res *Resources) error {
	spec := specResources(res)
	if cgroups.Mode() == cgroups.Unified {
		cg, err := cgroup2.Load(path)
		if err != nil {
			return fmt.Errorf("load cgroup %s: %w", path, err)
		}
		r := cgroup2.ToResources(spec)
		// A pod created without a limit has no cpu/memory/pids files yet: its parent must
		// first give it those controllers (cgroup.subtree_control), or the write fails.
		if err := cg.ToggleControllers(r.EnabledControllers(), cgroup2.Enable); err != nil {
			return fmt.Errorf("update cgroup %s: enable controllers: %w", path, err)
		}
		if err := cg.Update(r); err != nil {
			return fmt.Errorf("update cgroup %s: %w: %w", path, errdefs.ErrInvalidArgument, err)
		}
		return nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		return fmt.Errorf("load cgroup %s: %w", path, err)
	}
	if err := cg.Update(spec); err != nil {
		return fmt.Errorf("update cgroup %s: %w: %w", path, errdefs.ErrInvalidArgument, err)
	}
	return nil
}

// defaultCPUPeriod is the CFS period the kubelet uses (µs) when a quota comes without one.
const defaultCPUPeriod = 100000

// podLimits sizes a pod cgroup as the kubelet does: the containers' sum (res, the CRI's
// "sum of container resources") plus the overhead. CPU shares add up. A CPU quota or memory
// limit exists only when res has one: the kubelet leaves it out when some container has
// none, and the overhead alone must not become the pod's limit. The overhead's quota is
// scaled to res's period. Cpusets and unified keys come from res. Without res there is
// nothing to add the overhead to (nil). Sums are clamped to the accepted bounds.
func podLimits(overhead, res *Resources) *Resources {
	if res == nil {
		return nil
	}
	out := *res
	if overhead == nil {
		return &out
	}
	if out.CPUShares > 0 && overhead.CPUShares > 0 {
		out.CPUShares = min(out.CPUShares+overhead.CPUShares, cglimits.MaxCPUShares)
	}
	if out.CPUQuota > 0 && overhead.CPUQuota > 0 {
		period, overPeriod := out.CPUPeriod, overhead.CPUPeriod
		if period <= 0 {
			period = defaultCPUPeriod
		}
		if overPeriod <= 0 {
			overPeriod = defaultCPUPeriod
		}
		out.CPUQuota = saturatingAdd(out.CPUQuota, overhead.CPUQuota*period/overPeriod)
	}
	if out.MemoryLimitBytes > 0 && overhead.MemoryLimitBytes > 0 {
		out.MemoryLimitBytes = min(saturatingAdd(out.MemoryLimitBytes, overhead.MemoryLimitBytes), cglimits.MaxMemory)
	}
	return &out
}

// saturatingAdd adds two non-negative values, stopping at the largest int64.
func saturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
