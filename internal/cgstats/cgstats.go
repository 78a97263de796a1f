// Package cgstats reads the CPU, memory and pid figures of a cgroup (cgroup v1 or v2) through
// containerd/cgroups/v3, in the form kubelet and cAdvisor define them, and turns successive
// CPU samples into a rate (nano-cores).
package cgstats

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
)

// DefaultRoot is where cgroup hierarchies are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// ErrNoCgroup is returned when the cgroup does not exist (not created yet, or removed).
var ErrNoCgroup = errors.New("cgroup does not exist")

// Sample is one reading of a cgroup's figures.
type Sample struct {
	Timestamp time.Time
	// CPUUsageNanos is the cumulative CPU time of every task of the cgroup, in ns.
	CPUUsageNanos uint64
	// MemoryUsage is the charged memory (v1 memory.usage_in_bytes, v2 memory.current).
	MemoryUsage uint64
	// MemoryWorkingSet is usage minus inactive file pages (kubelet's eviction figure).
	MemoryWorkingSet uint64
	// MemoryRSS is anonymous memory (v1 total_rss, v2 anon).
	MemoryRSS uint64
	// PageFaults and MajorPageFaults are cumulative fault counts.
	PageFaults, MajorPageFaults uint64
	// SwapUsage is the swap charged to the cgroup (v1 memsw - usage, v2 memory.swap.current).
	SwapUsage uint64
	// MemoryLimit is the memory limit (0 = none).
	MemoryLimit uint64
	// OOMKills counts the processes of the cgroup killed by the OOM killer.
	OOMKills uint64
	// Pids is the number of tasks in the cgroup.
	Pids uint64
}

// Reader reads cgroup figures; the zero value is not usable, see New.
type Reader struct {
	v2    bool
	root  string
	v1    cgroup1.Hierarchy
	lean  []cgroup1.Subsystem // the v1 controllers read
	files *openFiles          // v1 files kept open between samples (KeepOpen), or nil
}

// New returns a Reader for this host's cgroup mode: cgroup2 when DefaultRoot is a unified
// hierarchy, cgroup v1 (legacy or hybrid) otherwise.
func New() Reader {
	if cgroups.Mode() == cgroups.Unified {
		return NewV2(DefaultRoot)
	}
	return NewV1(DefaultRoot)
}

// NewV1 returns a Reader of cgroup v1 hierarchies mounted as root/<controller>, through
// containerd/cgroups' cgroup1 with lean controllers (see lean_v1.go).
func NewV1(root string) Reader { return newV1(root, nil) }

func newV1(root string, files *openFiles) Reader {
	subs := []cgroup1.Subsystem{leanCPU{root, files}, newLeanMemory(root, files), leanPids{root, files}}
	return Reader{root: root, lean: subs, files: files, v1: func() ([]cgroup1.Subsystem, error) { return subs, nil }}
}

// KeepOpen returns a reader that keeps the files of every cgroup it reads open until Forget
// (cgroup v1; a v2 reader is returned unchanged): a sample is then one pread per file. The
// caller must Forget each cgroup it stops reading.
func (r Reader) KeepOpen() Reader {
	if r.v2 {
		return r
	}
	return newV1(r.root, &openFiles{})
}

// Forget closes the files KeepOpen keeps for the cgroup at path.
func (r Reader) Forget(path string) {
	if r.files != nil {
		r.files.forget(path)
	}
}

// NewV2 returns a Reader of a cgroup2 hierarchy mounted at root.
func NewV2(root string) Reader { return Reader{v2: true, root: root} }

// V2 reports whether the reader reads cgroup2.
func (r Reader) V2() bool { return r.v2 }

// Read returns the figures of the cgroup at path (relative to the hierarchy root, e.g.
// "/kubepods/pod1/ctr"). A missing cgroup is ErrNoCgroup.
func (r Reader) Read(path string) (Sample, error) {
	if r.v2 {
		return r.readV2(path)
	}
	return r.readV1(path)
}

func (r Reader) readV1(path string) (Sample, error) {
	now := time.Now()
	if r.files != nil {
		return r.readV1Open(path, now)
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(r.v1))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return Sample{}, fmt.Errorf("cgroup %s: %w", path, ErrNoCgroup)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("load cgroup %s: %w", path, err)
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return Sample{}, fmt.Errorf("read cgroup %s: %w", path, err)
	}
	return sampleV1(m, now), nil
}

// readV1Open reads through the kept-open files, controller after controller; a controller
// whose cgroup directory is missing is skipped (as cgroup1.Load does), all missing is
// ErrNoCgroup.
func (r Reader) readV1Open(path string, now time.Time) (Sample, error) {
	m := &v1.Metrics{CPU: &v1.CPUStat{Usage: &v1.CPUUsage{}}}
	found := false
	for _, c := range r.lean {
		err := c.(interface {
			Stat(string, *v1.Metrics) error
		}).Stat(path, m)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Sample{}, fmt.Errorf("read cgroup %s: %w", path, err)
		default:
			found = true
		}
	}
	if !found {
		r.files.forget(path)
		return Sample{}, fmt.Errorf("cgroup %s: %w", path, ErrNoCgroup)
	}
	return sampleV1(m, now), nil
}

func sampleV1(m *v1.Metrics, now time.Time) Sample {
	s := Sample{Timestamp: now}
	if m.CPU != nil && m.CPU.Usage != nil {
		s.CPUUsageNanos = m.CPU.Usage.Total
	}
	if mem := m.Memory; mem != nil {
		if mem.Usage != nil {
			s.MemoryUsage, s.MemoryLimit = mem.Usage.Usage, noLimit(mem.Usage.Limit)
		}
		s.MemoryWorkingSet = WorkingSet(s.MemoryUsage, mem.TotalInactiveFile)
		s.MemoryRSS = mem.TotalRSS
		s.PageFaults, s.MajorPageFaults = mem.TotalPgFault, mem.TotalPgMajFault
		if mem.Swap != nil && mem.Swap.Usage > s.MemoryUsage {
			s.SwapUsage = mem.Swap.Usage - s.MemoryUsage
		}
	}
	if m.MemoryOomControl != nil {
		s.OOMKills = m.MemoryOomControl.OomKill
	}
	if m.Pids != nil {
		s.Pids = m.Pids.Current
	}
	return s
}

func (r Reader) readV2(path string) (Sample, error) {
	now := time.Now()
	if _, err := os.Stat(filepath.Join(r.root, path)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Sample{}, fmt.Errorf("cgroup %s: %w", path, ErrNoCgroup)
		}
		return Sample{}, err
	}
	cg, err := cgroup2.Load(path, cgroup2.WithMountpoint(r.root))
	if err != nil {
		return Sample{}, fmt.Errorf("load cgroup %s: %w", path, err)
	}
	m, err := cg.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents | cgroup2.StatPids)
	if err != nil {
		return Sample{}, fmt.Errorf("read cgroup %s: %w", path, err)
	}
	s := Sample{Timestamp: now}
	if m.CPU != nil {
		s.CPUUsageNanos = m.CPU.UsageUsec * 1000
	}
	if mem := m.Memory; mem != nil {
		s.MemoryUsage, s.MemoryLimit = mem.Usage, noLimit(mem.UsageLimit)
		s.MemoryWorkingSet = WorkingSet(mem.Usage, mem.InactiveFile)
		s.MemoryRSS = mem.Anon
		s.PageFaults, s.MajorPageFaults = mem.Pgfault, mem.Pgmajfault
		s.SwapUsage = mem.SwapUsage
	}
	if m.MemoryEvents != nil {
		s.OOMKills = m.MemoryEvents.OomKill
	}
	if m.Pids != nil {
		s.Pids = m.Pids.Current
	}
	return s, nil
}

// WorkingSet is kubelet's (cAdvisor's) working set: usage minus inactive file-backed pages,
// never below zero.
func WorkingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}

// noLimit maps the "unlimited" encodings (v1: a page-rounded MaxInt64; v2: "max", read as 0
// or MaxUint64) to 0.
func noLimit(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// Processes counts the processes (not threads) in the cgroup at path and its descendants,
// as cAdvisor's process count does.
func (r Reader) Processes(path string) (uint64, error) {
	dir := filepath.Join(r.root, path)
	if !r.v2 {
		dir = filepath.Join(r.root, "pids", path)
	}
	var n uint64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return err
		}
		n += uint64(bytes.Count(b, []byte{'\n'}))
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("cgroup %s: %w", path, ErrNoCgroup)
	}
	return n, err
}
