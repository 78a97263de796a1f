package cgstats

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
)

// The containerd/cgroups v1 controllers read every file of their hierarchy (≈15 files per
// sample: kernel memory, per-cpu usage, failcnt, max usage …). ListContainerStats reads every
// container's cgroup, so these lean controllers plug into the same cgroup1 Load/Stat and
// fill the same v1.Metrics, reading only the 6 files behind the figures we report.

// leanCPU reads cpuacct.usage.
type leanCPU struct{ root string }

func (c leanCPU) Name() cgroup1.Name   { return cgroup1.Cpuacct }
func (c leanCPU) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Cpuacct), p) }
func (c leanCPU) Stat(p string, m *v1.Metrics) error {
	v, err := readUint(filepath.Join(c.Path(p), "cpuacct.usage"))
	m.CPU.Usage.Total = v
	return err
}

// leanMemory reads memory.stat, memory.usage_in_bytes, memory.memsw.usage_in_bytes (when
// swap is accounted) and memory.oom_control.
type leanMemory struct {
	root string
	swap bool
}

func newLeanMemory(root string) leanMemory {
	_, err := os.Stat(filepath.Join(root, string(cgroup1.Memory), "memory.memsw.usage_in_bytes"))
	return leanMemory{root: root, swap: err == nil}
}

func (c leanMemory) Name() cgroup1.Name   { return cgroup1.Memory }
func (c leanMemory) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Memory), p) }
func (c leanMemory) Stat(p string, m *v1.Metrics) error {
	dir := c.Path(p)
	kv, err := readKV(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return err
	}
	mem := &v1.MemoryStat{
		Usage: &v1.MemoryEntry{Limit: kv["hierarchical_memory_limit"]}, Swap: &v1.MemoryEntry{},
		TotalRSS: kv["total_rss"], TotalInactiveFile: kv["total_inactive_file"],
		TotalPgFault: kv["total_pgfault"], TotalPgMajFault: kv["total_pgmajfault"],
	}
	m.Memory = mem
	if mem.Usage.Usage, err = readUint(filepath.Join(dir, "memory.usage_in_bytes")); err != nil {
		return err
	}
	if c.swap {
		if mem.Swap.Usage, err = readUint(filepath.Join(dir, "memory.memsw.usage_in_bytes")); err != nil {
			return err
		}
	}
	oom, err := readKV(filepath.Join(dir, "memory.oom_control"))
	m.MemoryOomControl = &v1.MemoryOomControl{OomKill: oom["oom_kill"], UnderOom: oom["under_oom"]}
	return err
}

// leanPids reads pids.current.
type leanPids struct{ root string }

func (c leanPids) Name() cgroup1.Name   { return cgroup1.Pids }
func (c leanPids) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Pids), p) }
func (c leanPids) Stat(p string, m *v1.Metrics) error {
	v, err := readUint(filepath.Join(c.Path(p), "pids.current"))
	m.Pids = &v1.PidsStat{Current: v}
	return err
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// readKV reads a flat-keyed cgroup file ("key value" lines).
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, 48)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, errors.Join(errors.New(path+": "+k), err)
		}
		out[k] = n
	}
	return out, nil
}
