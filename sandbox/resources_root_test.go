package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup2"

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
	wantCPU := "612" // resources (512) + overhead (100)
	if cgroups.Mode() == cgroups.Unified {
		// 612 shares as a cgroup2 weight, by the quadratic conversion runc uses for container
		// cgroups (shares 2/1024/262144 → weight 1/100/10000), computed by hand.
		wantCPU = "67"
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

// sharesValue is what the pod cgroup's CPU file holds for shares: the shares on v1, the
// cgroup2 library's weight for them on v2.
func sharesValue(shares int64) string {
	if cgroups.Mode() == cgroups.Unified {
		return fmt.Sprint(*cgroup2.ToResources(specResources(&Resources{CPUShares: shares})).CPU.Weight)
	}
	return fmt.Sprint(shares)
}

// limitFiles names the pod cgroup's CPU shares, CPU quota and memory limit files.
func limitFiles() (shares, quota, memory [2]string) {
	if cgroups.Mode() == cgroups.Unified {
		return [2]string{"", "cpu.weight"}, [2]string{"", "cpu.max"}, [2]string{"", "memory.max"}
	}
	return [2]string{"cpu", "cpu.shares"}, [2]string{"cpu", "cpu.cfs_quota_us"}, [2]string{"memory", "memory.limit_in_bytes"}
}

// TestRootPodOverhead runs a pod with the kubelet's resources (the containers' sum) and
// overhead: the pod cgroup crishim creates gets their sum, at creation and after an update.
func TestRootPodOverhead(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	cfg := podConfig("overhead")
	cfg.Resources = &Resources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, MemoryLimitBytes: 256 << 20}
	cfg.Overhead = &Resources{CPUShares: 102, CPUPeriod: 100000, CPUQuota: 10000, MemoryLimitBytes: 64 << 20}
	sb, err := m.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
	}()
	shares, quota, mem := limitFiles()
	want := func(when, wantShares, wantQuota, wantMem string) {
		t.Helper()
		if cgroups.Mode() == cgroups.Unified {
			wantQuota += " 100000"
		}
		for _, f := range []struct {
			file [2]string
			want string
		}{{shares, wantShares}, {quota, wantQuota}, {mem, wantMem}} {
			if v := cgroupValue(t, sb.CgroupParent, f.file[0], f.file[1]); v != f.want {
				t.Errorf("%s: %s = %s, want %s", when, f.file[1], v, f.want)
			}
		}
	}
	want("at creation", sharesValue(614), "60000", fmt.Sprint(320<<20))
	// The kubelet resizes the pod: new resources, the overhead as recorded.
	if err := m.UpdateResources(ctx, sb.ID, nil, &Resources{CPUShares: 1024, CPUPeriod: 100000, CPUQuota: 100000, MemoryLimitBytes: 512 << 20}); err != nil {
		t.Fatal(err)
	}
	want("after a resize", sharesValue(1126), "110000", fmt.Sprint(576<<20))
}

// TestRootKubeletPodCgroup: a pod cgroup that exists before RunPodSandbox is the kubelet's,
// already sized by it (it knows what the CRI's summed resources cannot tell, such as a
// container without a limit making the pod unlimited): crishim neither fails on it nor
// changes its limits, at creation or on UpdatePodSandboxResources, and leaves it in place.
func TestRootKubeletPodCgroup(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	podCg := e.cgParent + "/kubepods/podabc"
	if err := createCgroup(podCg, &Resources{CPUShares: 2048, MemoryLimitBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	shares, quota, mem := limitFiles()
	before := map[string]string{}
	for _, f := range [][2]string{shares, quota, mem} {
		before[f[1]] = cgroupValue(t, podCg, f[0], f[1])
	}
	cfg := podConfig("kubelet")
	cfg.CgroupParent = podCg
	cfg.Resources = &Resources{CPUShares: 512, MemoryLimitBytes: 100 << 20}
	cfg.Overhead = &Resources{CPUShares: 102, MemoryLimitBytes: 64 << 20}
	sb, err := m.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("RunPodSandbox in the kubelet's pod cgroup: %v", err)
	}
	if err := m.UpdateResources(ctx, sb.ID, nil, &Resources{CPUShares: 256, MemoryLimitBytes: 50 << 20}); err != nil {
		t.Fatalf("UpdatePodSandboxResources in the kubelet's pod cgroup: %v", err)
	}
	for _, f := range [][2]string{shares, quota, mem} {
		if v := cgroupValue(t, podCg, f[0], f[1]); v != before[f[1]] {
			t.Errorf("the kubelet's %s changed from %s to %s", f[1], before[f[1]], v)
		}
	}
	if got, _ := m.Get(sb.ID); got.Resources == nil || got.Resources.CPUShares != 256 {
		t.Errorf("resources not recorded: %+v", got.Resources)
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if !cgroupExists(podCg) {
		t.Fatal("the kubelet's pod cgroup was removed with the pod")
	}
}
