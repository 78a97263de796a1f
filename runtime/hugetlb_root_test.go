package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/crishim/crishim/internal/cglimits"
)

// kubeletHugepageLimits returns what a kubelet sends for a container without hugepage requests:
// a zero limit for every huge page size the kernel offers ("hugepages-2048kB" → "2MB").
func kubeletHugepageLimits(t *testing.T) []HugepageLimit {
	t.Helper()
	ents, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		t.Skipf("no huge page sizes on this kernel: %v", err)
	}
	var out []HugepageLimit
	for _, e := range ents {
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"), 10, 64)
		if err != nil {
			t.Fatalf("huge page size %q: %v", e.Name(), err)
		}
		size := strconv.FormatUint(kb, 10) + "KB"
		switch {
		case kb >= 1<<20 && kb%(1<<20) == 0:
			size = strconv.FormatUint(kb>>20, 10) + "GB"
		case kb >= 1<<10 && kb%(1<<10) == 0:
			size = strconv.FormatUint(kb>>10, 10) + "MB"
		}
		out = append(out, HugepageLimit{PageSize: size, Limit: 0})
	}
	if len(out) == 0 {
		t.Skip("no huge page sizes on this kernel")
	}
	return out
}

// A kubelet sends hugepage limits for every huge page size whether or not the host has the
// hugetlb cgroup controller. Without it the container must still start (the limits cannot be
// enforced and are dropped, like containerd's tolerate_missing_hugetlb_controller); with it
// they are applied.
func TestHugepageLimitsStart(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)

	spec := pod.spec("huge", "sh", "-c", "echo started; exec sleep 60")
	spec.Resources.HugepageLimits = kubeletHugepageLimits(t)
	spec.Resources.MemoryLimitInBytes = 64 << 20
	st, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create with hugepage limits %v: %v", spec.Resources.HugepageLimits, err)
	}
	if err := m.Start(ctx, st.ID); err != nil {
		t.Fatalf("Start with hugepage limits %v (hugetlb controller available: %v): %v",
			spec.Resources.HugepageLimits, cglimits.HugetlbAvailable(m.host.CgroupV2, pod.cgroup), err)
	}
	// A resize sends them again (kubelet's UpdateContainerResources).
	upd := Resources{MemoryLimitInBytes: 96 << 20, HugepageLimits: spec.Resources.HugepageLimits}
	if err := m.UpdateResources(ctx, st.ID, upd); err != nil {
		t.Fatalf("UpdateResources with hugepage limits: %v", err)
	}
	if err := m.Stop(ctx, st.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if lines := readLog(t, spec.LogPath); len(lines) != 1 || lines[0][2] != "started" {
		t.Fatalf("log: %v", lines)
	}
	if err := m.Remove(ctx, st.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
}

// Where the hugetlb controller exists, the limits reach the container's cgroup.
func TestHugepageLimitsApplied(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	if !cglimits.HugetlbAvailable(m.host.CgroupV2, pod.cgroup) {
		t.Skip("no hugetlb cgroup controller on this host (TestHugepageLimitsStart covers the drop)")
	}
	ctx := context.Background()
	limits := kubeletHugepageLimits(t)
	// The kernel rounds a limit down to whole pages: four pages of each size.
	for i := range limits {
		limits[i].Limit = 4 * pageBytes(t, limits[i].PageSize)
	}
	spec := pod.spec("huge", "sleep", "60")
	spec.Resources.HugepageLimits = limits
	st, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = m.Remove(context.Background(), st.ID) })
	dir, suffix := filepath.Join("/sys/fs/cgroup", pod.cgroup, st.ID), ".max"
	if !m.host.CgroupV2 {
		mnt, err := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) {
			return i.FSType != "cgroup" || !slices.Contains(strings.Split(i.VFSOptions, ","), "hugetlb"), false
		})
		if err != nil || len(mnt) == 0 {
			t.Fatalf("hugetlb hierarchy mount: %v %v", mnt, err)
		}
		dir, suffix = filepath.Join(mnt[0].Mountpoint, pod.cgroup, st.ID), ".limit_in_bytes"
	}
	for _, l := range limits {
		file := filepath.Join(dir, "hugetlb."+l.PageSize+suffix)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		if got := strings.TrimSpace(string(b)); got != strconv.FormatUint(l.Limit, 10) {
			t.Errorf("%s = %s, want %d", file, got, l.Limit)
		}
	}
}

// pageBytes turns a kubelet page size name ("2MB", "1GB", "64KB") into bytes.
func pageBytes(t *testing.T, size string) uint64 {
	t.Helper()
	for suffix, shift := range map[string]uint{"KB": 10, "MB": 20, "GB": 30} {
		if n, ok := strings.CutSuffix(size, suffix); ok {
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				t.Fatalf("page size %q: %v", size, err)
			}
			return v << shift
		}
	}
	t.Fatalf("page size %q: no unit", size)
	return 0
}
