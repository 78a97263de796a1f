package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3"

	"github.com/crishim/crishim/internal/errdefs"
)

// cgroupValue reads a cgroup file of the pod cgroup (v1: in the controller's hierarchy).
func cgroupValue(t *testing.T, path, controller, file string) string {
	t.Helper()
	dir := filepath.Join(unifiedRoot, controller, path)
	if cgroups.Mode() == cgroups.Unified {
		dir = filepath.Join(unifiedRoot, path)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestRootUpdatePodResources(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("res"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
	}()
	memFile, cpuFile, cpuCtl := "memory.limit_in_bytes", "cpu.shares", "cpu"
	if cgroups.Mode() == cgroups.Unified {
		memFile, cpuFile, cpuCtl = "memory.max", "cpu.weight", ""
	}
	res := &Resources{CPUShares: 512, MemoryLimitBytes: 256 << 20}
	if err := m.UpdateResources(ctx, sb.ID, &Resources{CPUShares: 100}, res); err != nil {
		t.Fatalf("UpdateResources: %v", err)
	}
	if v := cgroupValue(t, sb.CgroupParent, "memory", memFile); v != "268435456" {
		t.Fatalf("%s = %s", memFile, v)
	}
	wantCPU := "512"
	if cgroups.Mode() == cgroups.Unified {
		// 512 shares as a cgroup2 weight, by the quadratic conversion runc uses for container
		// cgroups (shares 2/1024/262144 → weight 1/100/10000).
		wantCPU = "59"
	}
	if v := cgroupValue(t, sb.CgroupParent, cpuCtl, cpuFile); v != wantCPU {
		t.Fatalf("%s = %s, want %s", cpuFile, v, wantCPU)
	}
	got, _ := m.Get(sb.ID)
	if got.Resources == nil || got.Resources.CPUShares != 512 || got.Resources.MemoryLimitBytes != 256<<20 || got.Overhead == nil || got.Overhead.CPUShares != 100 {
		t.Fatalf("recorded resources %+v overhead %+v", got.Resources, got.Overhead)
	}
	for _, bad := range []*Resources{{CPUShares: -5}, {MemoryLimitBytes: -1}, {CPUPeriod: 10}, {CPUShares: 1 << 40}} {
		if err := m.UpdateResources(ctx, sb.ID, nil, bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("UpdateResources(%+v): %v", *bad, err)
		}
	}
	if v := cgroupValue(t, sb.CgroupParent, "memory", memFile); v != "268435456" {
		t.Fatalf("invalid update changed %s to %s", memFile, v)
	}
	if err := m.UpdateResources(ctx, "nope", nil, res); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown pod: %v", err)
	}
}
