package cgstats

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadV1 reads a fake cgroup v1 tree: working set = usage - total_inactive_file, RSS =
// total_rss, swap = memsw - usage, OOM kills from memory.oom_control.
func TestReadV1(t *testing.T) {
	root := t.TempDir()
	const path = "/pod/ctr"
	writeFiles(t, filepath.Join(root, "cpuacct", path), map[string]string{
		"cpuacct.usage":        "123456789\n",
		"cpuacct.usage_percpu": "100000000 23456789\n",
		"cpuacct.stat":         "user 10\nsystem 2\n",
	})
	writeFiles(t, filepath.Join(root, "memory", path), map[string]string{
		"memory.stat": "cache 4096\nrss 8192\ninactive_file 1000\n" +
			"total_rss 20971520\ntotal_inactive_file 1048576\ntotal_pgfault 77\ntotal_pgmajfault 3\nhierarchical_memory_limit 67108864\n",
		"memory.usage_in_bytes":       "31457280\n",
		"memory.limit_in_bytes":       "9223372036854771712\n",
		"memory.max_usage_in_bytes":   "40000000\n",
		"memory.failcnt":              "0\n",
		"memory.memsw.usage_in_bytes": "31461376\n",
		"memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"memory.oom_control":          "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
	})
	// Swap accounting is detected at the hierarchy root, as on a real host.
	writeFiles(t, filepath.Join(root, "memory"), map[string]string{"memory.memsw.usage_in_bytes": "0\n"})
	writeFiles(t, filepath.Join(root, "pids", path), map[string]string{"pids.current": "5\n", "pids.max": "max\n"})
	s, err := NewV1(root).Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{
		Timestamp: s.Timestamp, CPUUsageNanos: 123456789, MemoryUsage: 31457280,
		MemoryWorkingSet: 31457280 - 1048576, MemoryRSS: 20971520, PageFaults: 77,
		MajorPageFaults: 3, SwapUsage: 4096, MemoryLimit: 64 << 20, OOMKills: 2, Pids: 5,
	}
	if s != want {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
	writeFiles(t, filepath.Join(root, "pids", "/pod"), map[string]string{"cgroup.procs": "7\n"})
	writeFiles(t, filepath.Join(root, "pids", path), map[string]string{"cgroup.procs": "8\n9\n"})
	if n, err := NewV1(root).Processes("/pod"); err != nil || n != 3 {
		t.Errorf("processes of /pod = %d, %v; want 3 (recursive)", n, err)
	}
	if _, err := NewV1(root).Processes("/nope"); !errors.Is(err, ErrNoCgroup) {
		t.Errorf("processes of a missing cgroup: %v", err)
	}
	if _, err := NewV1(root).Read("/pod/gone"); !errors.Is(err, ErrNoCgroup) {
		t.Fatalf("missing cgroup: err = %v, want ErrNoCgroup", err)
	}
}

// TestReadV2 reads a fake cgroup2 tree: usage_usec → ns, working set = memory.current -
// inactive_file, RSS = anon, OOM kills from memory.events.
func TestReadV2(t *testing.T) {
	root := t.TempDir()
	const path = "/pod/ctr"
	writeFiles(t, filepath.Join(root, path), map[string]string{
		"cpu.stat":            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
		"memory.stat":         "anon 10485760\nfile 5242880\ninactive_file 2097152\npgfault 11\npgmajfault 1\n",
		"memory.current":      "16777216\n",
		"memory.max":          "33554432\n",
		"memory.swap.current": "8192\n",
		"memory.events":       "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"pids.current":        "3\n",
	})
	s, err := NewV2(root).Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{
		Timestamp: s.Timestamp, CPUUsageNanos: 2500000, MemoryUsage: 16777216,
		MemoryWorkingSet: 16777216 - 2097152, MemoryRSS: 10485760, PageFaults: 11,
		MajorPageFaults: 1, SwapUsage: 8192, MemoryLimit: 33554432, OOMKills: 1, Pids: 3,
	}
	if s != want {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
	if _, err := NewV2(root).Read("/pod/gone"); !errors.Is(err, ErrNoCgroup) {
		t.Fatalf("missing cgroup: err = %v, want ErrNoCgroup", err)
	}
}

func TestWorkingSet(t *testing.T) {
	for _, c := range []struct{ usage, inactive, want uint64 }{
		{100, 30, 70}, {100, 100, 0}, {100, 200, 0}, {0, 0, 0},
	} {
		if got := WorkingSet(c.usage, c.inactive); got != c.want {
			t.Errorf("WorkingSet(%d, %d) = %d, want %d", c.usage, c.inactive, got, c.want)
		}
	}
}

func TestNanoCores(t *testing.T) {
	r := NewRates()
	t0 := time.Unix(1000, 0)
	if _, ok := r.NanoCores("a", t0, 1e9); ok {
		t.Fatal("first sample must not give a rate")
	}
	// 0.5 s of CPU over 2 s = a quarter of a core.
	if n, ok := r.NanoCores("a", t0.Add(2*time.Second), 1.5e9); !ok || n != 250_000_000 {
		t.Fatalf("rate = %d, %v; want 250000000", n, ok)
	}
	// Same timestamp: no rate, previous point kept.
	if _, ok := r.NanoCores("a", t0.Add(2*time.Second), 2e9); ok {
		t.Fatal("no time elapsed must not give a rate")
	}
	// Two full cores for one second.
	if n, ok := r.NanoCores("a", t0.Add(3*time.Second), 3.5e9); !ok || n != 2_000_000_000 {
		t.Fatalf("rate = %d, %v; want 2000000000", n, ok)
	}
	// Counter reset (new cgroup under the same key).
	if _, ok := r.NanoCores("a", t0.Add(4*time.Second), 10); ok {
		t.Fatal("a counter going back must not give a rate")
	}
	r.Forget("a")
	if _, ok := r.NanoCores("a", t0.Add(5*time.Second), 20); ok {
		t.Fatal("forgotten key must start over")
	}
}

// TestKeepOpenRereadsAndForgets reads a fake v1 cgroup twice through kept-open files (the
// second read sees the new content), then forgets it (files closed) and reads a missing one.
func TestKeepOpenRereadsAndForgets(t *testing.T) {
	root := t.TempDir()
	const path = "/pod/ctr"
	writeFiles(t, filepath.Join(root, "cpuacct", path), map[string]string{"cpuacct.usage": "100\n"})
	writeFiles(t, filepath.Join(root, "memory", path), map[string]string{
		"memory.stat": "total_rss 10\ntotal_inactive_file 1\n", "memory.usage_in_bytes": "50\n",
		"memory.oom_control": "oom_kill 0\n",
	})
	writeFiles(t, filepath.Join(root, "pids", path), map[string]string{"pids.current": "1\n"})
	r := NewV1(root).KeepOpen()
	s, err := r.Read(path)
	if err != nil || s.CPUUsageNanos != 100 || s.MemoryWorkingSet != 49 || s.Pids != 1 {
		t.Fatalf("first read %+v, %v", s, err)
	}
	if n := len(r.files.m[path]); n != 5 {
		t.Fatalf("%d files kept open, want 5", n)
	}
	writeFiles(t, filepath.Join(root, "cpuacct", path), map[string]string{"cpuacct.usage": "250\n"})
	if s, err = r.Read(path); err != nil || s.CPUUsageNanos != 250 {
		t.Fatalf("second read %+v, %v: want the new content", s, err)
	}
	r.Forget(path)
	if len(r.files.m) != 0 {
		t.Fatalf("files still kept after Forget: %v", r.files.m)
	}
	if _, err := r.Read("/pod/gone"); !errors.Is(err, ErrNoCgroup) {
		t.Fatalf("missing cgroup: %v, want ErrNoCgroup", err)
	}
}
