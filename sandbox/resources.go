package sandbox

import (
	"context"
	"fmt"

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

// UpdateResources applies new pod-level resources to the pod cgroup (cgroup v1 or v2) and
// records them with the overhead. Zero fields leave the cgroup value unchanged. Invalid
// values change nothing.
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
	id, path := p.rec.ID, p.rec.CgroupParent
	m.mu.Unlock()
	if res != nil && path != "" {
		if err := updateCgroup(path, res); err != nil {
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
