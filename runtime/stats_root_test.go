package runtime

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// usageRootfs adds RootfsUsage to testRootfs by walking the upper dir.
type usageRootfs struct{ *testRootfs }

func (r usageRootfs) RootfsUsage(key string) (bytes, inodes uint64, err error) {
	err = filepath.WalkDir(filepath.Join(r.dir, key, "upper"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil {
			inodes++
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				bytes += uint64(st.Blocks) * 512
			}
		}
		return nil
	})
	return bytes, inodes, err
}

func readUintFile(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func statKey(t *testing.T, path, key string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	t.Fatalf("%s: no %s", path, key)
	return 0
}

func within(a, b uint64, pct float64) bool {
	d := float64(a) - float64(b)
	if d < 0 {
		d = -d
	}
	return d <= pct/100*float64(max(a, b))
}

// cgroupFigures reads a container cgroup's CPU time, memory usage, inactive file pages and
// anonymous memory straight from the cgroup files: v1 cpuacct.usage, memory.usage_in_bytes and
// memory.stat total_*; v2 cpu.stat usage_usec, memory.current and memory.stat.
func cgroupFigures(t *testing.T, path string) (cpu, usage, inactive, rss uint64) {
	t.Helper()
	if v2 := "/sys/fs/cgroup/cgroup.controllers"; fileExists(v2) {
		dir := filepath.Join("/sys/fs/cgroup", path)
		stat := filepath.Join(dir, "memory.stat")
		return statKey(t, filepath.Join(dir, "cpu.stat"), "usage_usec") * 1000,
			readUintFile(t, filepath.Join(dir, "memory.current")),
			statKey(t, stat, "inactive_file"), statKey(t, stat, "anon")
	}
	mem := filepath.Join("/sys/fs/cgroup/memory", path)
	return readUintFile(t, filepath.Join("/sys/fs/cgroup/cpuacct", path, "cpuacct.usage")),
		readUintFile(t, filepath.Join(mem, "memory.usage_in_bytes")),
		statKey(t, filepath.Join(mem, "memory.stat"), "total_inactive_file"),
		statKey(t, filepath.Join(mem, "memory.stat"), "total_rss")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestStatsAgreeWithCgroup runs a container that holds a 32 MiB buffer and burns CPU, and
// checks Stats against the cgroup files (v1 or v2) read right after (within 5%).
func TestStatsAgreeWithCgroup(t *testing.T) {
	needRoot(t)
	rootfs := usageRootfs{newTestRootfs(t)}
	m := newTestManager(t, rootfs, t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "head -c 4096 /dev/zero > /big; dd if=/dev/zero of=/dev/null bs=32M & while :; do :; done"}
	})
	ctx := context.Background()
	time.Sleep(time.Second)
	first, err := m.Stats(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.CPUNanoCoresValid {
		t.Errorf("first sample has a CPU rate")
	}
	time.Sleep(time.Second)
	// The burner keeps using CPU: bracket the sample between two cgroup reads (how much CPU
	// it gets depends on how busy the machine is, so nothing here asserts an amount).
	cg := filepath.Join(pod.cgroup, st.ID)
	cpu0, _, _, _ := cgroupFigures(t, cg)
	s, err := m.Stats(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	cpu, usage, inactive, rss := cgroupFigures(t, cg)
	t.Logf("stats %+v; cgroup cpu %d usage %d inactive_file %d rss %d", s, cpu, usage, inactive, rss)
	if s.CPUUsageNanos < cpu0 || s.CPUUsageNanos > cpu || s.CPUUsageNanos <= first.CPUUsageNanos {
		t.Errorf("cpu %d not between the cgroup's %d and %d, or not above the first sample's %d", s.CPUUsageNanos, cpu0, cpu, first.CPUUsageNanos)
	}
	if !within(s.MemoryUsage, usage, 5) || !within(s.MemoryWorkingSet, usage-inactive, 5) || !within(s.MemoryRSS, rss, 5) {
		t.Errorf("memory usage %d ws %d rss %d vs cgroup %d %d %d", s.MemoryUsage, s.MemoryWorkingSet, s.MemoryRSS, usage, usage-inactive, rss)
	}
	if s.MemoryRSS < 32<<20 || s.Pids < 2 || s.MemoryPageFaults == 0 {
		t.Errorf("rss %d pids %d faults %d: want ≥ 32 MiB, ≥ 2 tasks, faults", s.MemoryRSS, s.Pids, s.MemoryPageFaults)
	}
	want := float64(s.CPUUsageNanos-first.CPUUsageNanos) / float64(s.Timestamp.Sub(first.Timestamp).Nanoseconds()) * 1e9
	if !s.CPUNanoCoresValid || !within(s.CPUNanoCores, uint64(want), 1) || s.CPUNanoCores == 0 {
		t.Errorf("nano-cores %d (valid %v), want %.0f and busy", s.CPUNanoCores, s.CPUNanoCoresValid, want)
	}
	if !s.WritableLayerValid || s.WritableLayerBytes < 4096 || s.WritableLayerInodes < 2 {
		t.Errorf("writable layer %d bytes %d inodes (valid %v)", s.WritableLayerBytes, s.WritableLayerInodes, s.WritableLayerValid)
	}
}

// TestExitHook checks one notification per exit: a container ending on its own (from the
// watcher), a stopped one and a removed running one (before Stop/Remove return).
func TestExitHook(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	var mu sync.Mutex
	got := map[string][]ExitEvent{}
	m.OnExit(func(ev ExitEvent) {
		mu.Lock()
		got[ev.ID] = append(got[ev.ID], ev)
		mu.Unlock()
	})
	events := func(id string) []ExitEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]ExitEvent(nil), got[id]...)
	}
	pod := newTestPod(t)
	ctx := context.Background()
	self := startSleeper(t, m, pod, func(s *ContainerSpec) { s.Command = []string{"sh", "-c", "sleep 0.2; exit 3"} })
	stopped := startSleeper(t, m, pod, nil)
	removed := startSleeper(t, m, pod, nil)
	if err := m.Stop(ctx, stopped.ID, 0); err != nil {
		t.Fatal(err)
	}
	if ev := events(stopped.ID); len(ev) != 1 || ev[0].ExitCode != 137 || ev[0].PodID != pod.id {
		t.Errorf("stop: events %+v, want one exit 137 before Stop returns", ev)
	}
	if err := m.Remove(ctx, removed.ID); err != nil {
		t.Fatal(err)
	}
	if ev := events(removed.ID); len(ev) != 1 {
		t.Errorf("remove of a running container: events %+v, want one before Remove returns", ev)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(events(self.ID)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ev := events(self.ID)
	if len(ev) != 1 || ev[0].ExitCode != 3 || ev[0].Reason != ReasonError {
		t.Fatalf("own exit: events %+v, want one exit 3 Error", ev)
	}
	if st, _ := m.Status(self.ID); st.State != StateExited || st.ExitCode != 3 {
		t.Errorf("status after the hook: %+v", st)
	}
	_ = m.Stop(ctx, self.ID, 0)
	_ = m.Stop(ctx, stopped.ID, 0)
	if n, n2 := len(events(self.ID)), len(events(stopped.ID)); n != 1 || n2 != 1 {
		t.Errorf("a second Stop notified again: %d, %d", n, n2)
	}
}
