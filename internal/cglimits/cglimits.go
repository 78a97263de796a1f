// Package cglimits holds the bounds crishim accepts for cgroup resource values, shared by the
// container and pod resource updates. Values outside them are caller bugs the kernel would
// reject or clamp silently. It also tells which optional limits the host's cgroups can take
// (HugetlbAvailable).
package cglimits

import (
	"fmt"

	"github.com/crishim/crishim/internal/errdefs"
)

// Bounds of the accepted values; zero always means "unset / unchanged".
const (
	MinCPUShares = 2
	MaxCPUShares = 262144
	MinCPUPeriod = 1000    // µs
	MaxCPUPeriod = 1000000 // µs
	MinCPUQuota  = 1000    // µs; -1 = unlimited
	MinMemory    = 4096
	MaxMemory    = 1 << 62
)

// Check validates CPU shares, period, quota and a memory limit against the bounds; the
// error wraps errdefs.ErrInvalidArgument and names the field.
func Check(cpuShares, cpuPeriod, cpuQuota, memory int64) error {
	bad := func(field string, v int64, want string) error {
		return fmt.Errorf("%s %d: must be %s: %w", field, v, want, errdefs.ErrInvalidArgument)
	}
	switch {
	case cpuShares != 0 && (cpuShares < MinCPUShares || cpuShares > MaxCPUShares):
		return bad("cpu_shares", cpuShares, fmt.Sprintf("%d-%d", MinCPUShares, MaxCPUShares))
	case cpuPeriod != 0 && (cpuPeriod < MinCPUPeriod || cpuPeriod > MaxCPUPeriod):
		return bad("cpu_period", cpuPeriod, fmt.Sprintf("%d-%d µs", MinCPUPeriod, MaxCPUPeriod))
	case cpuQuota != 0 && cpuQuota != -1 && cpuQuota < MinCPUQuota:
		return bad("cpu_quota", cpuQuota, fmt.Sprintf("-1 or at least %d µs", MinCPUQuota))
	case memory != 0 && (memory < MinMemory || memory > MaxMemory):
		return bad("memory_limit_in_bytes", memory, fmt.Sprintf("%d-%d", MinMemory, int64(MaxMemory)))
	}
	return nil
}
