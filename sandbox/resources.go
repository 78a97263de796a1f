package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/crishim/crishim/internal/errdefs"
)

// Bounds of sane cgroup values: anything outside is a caller bug, not a tuning choice.
const (
	maxCPUShares  = 262144
	minCPUShares  = 2
	minCPUPeriod  = 1000    // 1 ms
	maxCPUPeriod  = 1000000 // 1 s
	minCPUQuota   = 1000
	minMemLimit   = 4096
	maxMemLimit   = 1 << 62
	unlimitedQuot = -1
)

// ValidateResources rejects negative or absurd pod resources; zero fields mean "unset".
func ValidateResources(r *Resources) error {
	if r == nil {
		return nil
	}
	var errs []error
	if r.CPUShares != 0 && (r.CPUShares < minCPUShares || r.CPUShares > maxCPUShares) {
		errs = append(errs, invalid("cpu_shares %d: must be in %d-%d", r.CPUShares, minCPUShares, maxCPUShares))
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < minCPUPeriod || r.CPUPeriod > maxCPUPeriod) {
		errs = append(errs, invalid("cpu_period %d: must be in %d-%d µs", r.CPUPeriod, minCPUPeriod, maxCPUPeriod))
	}
	if r.CPUQuota != 0 && r.CPUQuota != unlimitedQuot && r.CPUQuota < minCPUQuota {
		errs = append(errs, invalid("cpu_quota %d: must be -1 or at least %d µs", r.CPUQuota, minCPUQuota))
	}
	if r.MemoryLimitBytes != 0 && (r.MemoryLimitBytes < minMemLimit || r.MemoryLimitBytes > maxMemLimit) {
		errs = append(errs, invalid("memory_limit_in_bytes %d: must be in %d-%d", r.MemoryLimitBytes, minMemLimit, int64(maxMemLimit)))
	}
	return errors.Join(errs...)
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
		if err := cg.Update(cgroup2.ToResources(spec)); err != nil {
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
