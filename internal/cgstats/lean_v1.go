package cgstats

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
)

// The containerd/cgroups v1 controllers read every file of their hierarchy (≈15 files per
// sample: kernel memory, per-cpu usage, failcnt, max usage …). ListContainerStats reads every
// container's cgroup, so these lean controllers plug into the same cgroup1 Load/Stat and
// fill the same v1.Metrics, reading only the 6 files behind the figures we report.

// leanCPU reads cpuacct.usage.
type leanCPU struct {
	root  string
	files *openFiles // nil: open each file on every read
}

func (c leanCPU) Name() cgroup1.Name   { return cgroup1.Cpuacct }
func (c leanCPU) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Cpuacct), p) }
func (c leanCPU) Stat(p string, m *v1.Metrics) error {
	v, err := c.files.readUint(c.Path, p, "cpuacct.usage")
	m.CPU.Usage.Total = v
	return err
}

// leanMemory reads memory.stat, memory.usage_in_bytes, memory.memsw.usage_in_bytes (when
// swap is accounted) and memory.oom_control.
type leanMemory struct {
	root  string
	swap  bool
	files *openFiles
}

func newLeanMemory(root string, files *openFiles) leanMemory {
	_, err := os.Stat(filepath.Join(root, string(cgroup1.Memory), "memory.memsw.usage_in_bytes"))
	return leanMemory{root: root, swap: err == nil, files: files}
}

// memoryStatKeys are the memory.stat keys read, in the order of their values in Stat.
var memoryStatKeys = []string{"hierarchical_memory_limit", "total_rss", "total_inactive_file", "total_pgfault", "total_pgmajfault"}

var oomKeys = []string{"oom_kill", "under_oom"}

func (c leanMemory) Name() cgroup1.Name   { return cgroup1.Memory }
func (c leanMemory) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Memory), p) }
func (c leanMemory) Stat(p string, m *v1.Metrics) error {
	var kv [5]uint64
	if err := c.files.readKV(c.Path, p, "memory.stat", memoryStatKeys, kv[:]); err != nil {
		return err
	}
	mem := &v1.MemoryStat{
		Usage: &v1.MemoryEntry{Limit: kv[0]}, Swap: &v1.MemoryEntry{},
		TotalRSS: kv[1], TotalInactiveFile: kv[2], TotalPgFault: kv[3], TotalPgMajFault: kv[4],
	}
	m.Memory = mem
	var err error
	if mem.Usage.Usage, err = c.files.readUint(c.Path, p, "memory.usage_in_bytes"); err != nil {
		return err
	}
	if c.swap {
		if mem.Swap.Usage, err = c.files.readUint(c.Path, p, "memory.memsw.usage_in_bytes"); err != nil {
			return err
		}
	}
	var oom [2]uint64
	err = c.files.readKV(c.Path, p, "memory.oom_control", oomKeys, oom[:])
	m.MemoryOomControl = &v1.MemoryOomControl{OomKill: oom[0], UnderOom: oom[1]}
	return err
}

// leanPids reads pids.current.
type leanPids struct {
	root  string
	files *openFiles
}

func (c leanPids) Name() cgroup1.Name   { return cgroup1.Pids }
func (c leanPids) Path(p string) string { return filepath.Join(c.root, string(cgroup1.Pids), p) }
func (c leanPids) Stat(p string, m *v1.Metrics) error {
	v, err := c.files.readUint(c.Path, p, "pids.current")
	m.Pids = &v1.PidsStat{Current: v}
	return err
}

// readBufSize fits every file the lean controllers read (v1 memory.stat is ~1.5 KiB).
const readBufSize = 8 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// readUint reads a single-number file of cgroup cg in the directory dir(cg).
func (o *openFiles) readUint(dir func(string) string, cg, name string) (uint64, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	b, err := o.readFile(dir, cg, name, *bp)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
}

// readKV reads a flat-keyed cgroup file ("key value" lines), storing the value of keys[i]
// in vals[i] (keys absent stay 0).
func (o *openFiles) readKV(dir func(string) string, cg, name string, keys []string, vals []uint64) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	b, err := o.readFile(dir, cg, name, *bp)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		for i, want := range keys {
			if string(k) != want {
				continue
			}
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%s of cgroup %s: %s: %w", name, cg, want, err)
			}
			vals[i] = n
		}
	}
	return nil
}
