package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const unifiedRoot = "/sys/fs/cgroup"

// specResources converts pod resources to the OCI form the cgroups library takes.
func specResources(r *Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	if r == nil {
		return out
	}
	if r.CPUShares > 0 || r.CPUQuota != 0 || r.CPUPeriod > 0 || r.CpusetCpus != "" || r.CpusetMems != "" {
		cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
		if r.CPUShares > 0 {
			s := uint64(r.CPUShares)
			cpu.Shares = &s
		}
		if r.CPUQuota != 0 {
			q := r.CPUQuota
			cpu.Quota = &q
		}
		if r.CPUPeriod > 0 {
			p := uint64(r.CPUPeriod)
			cpu.Period = &p
		}
		out.CPU = cpu
	}
	if r.MemoryLimitBytes > 0 {
		l := r.MemoryLimitBytes
		out.Memory = &specs.LinuxMemory{Limit: &l}
	}
	if cgroups.Mode() == cgroups.Unified {
		out.Unified = r.Unified
	}
	return out
}

// cgroupExists reports whether the pod cgroup already exists (e.g. kubelet created it).
func cgroupExists(path string) bool {
	probe := filepath.Join(unifiedRoot, "memory", path)
	if cgroups.Mode() == cgroups.Unified {
		probe = filepath.Join(unifiedRoot, path)
	}
	_, err := os.Stat(probe)
	return err == nil
}

// createCgroup creates (or reuses) the pod cgroup and applies res: cgroup2 when
// /sys/fs/cgroup is cgroup2, else every v1 hierarchy (and the hybrid unified one, where runc
// also places containers).
func createCgroup(path string, res *Resources) error {
	spec := specResources(res)
	if cgroups.Mode() == cgroups.Unified {
		if _, err := cgroup2.NewManager(unifiedRoot, path, cgroup2.ToResources(spec)); err != nil {
			return fmt.Errorf("create cgroup %s: %w", path, err)
		}
		return nil
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(path), &specs.LinuxResources{})
	if err != nil {
		return fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if res != nil {
		if err := cg.Update(spec); err != nil {
			return fmt.Errorf("cgroup %s: apply pod resources: %w", path, err)
		}
	}
	if cgroups.Mode() == cgroups.Hybrid {
		if err := os.MkdirAll(filepath.Join(unifiedRoot, "unified", path), 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}
	return nil
}

// addToCgroup moves pid (the infra process) into the pod cgroup, so that it is accounted to
// the pod and not killed with the daemon's service cgroup. On cgroup2 it goes into a child
// "infra" cgroup: a cgroup2 parent with processes cannot enable controllers for its children
// (the "no internal processes" rule) and containers go below the pod cgroup too.
func addToCgroup(path string, pid int) error {
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager(unifiedRoot, path+"/infra", &cgroup2.Resources{})
		if err != nil {
			return err
		}
		return m.AddProc(uint64(pid))
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		return err
	}
	if err := cg.AddProc(uint64(pid)); err != nil {
		return err
	}
	if cgroups.Mode() == cgroups.Hybrid {
		// systemd tracks services through the hybrid unified hierarchy: move it there too.
		procs := filepath.Join(unifiedRoot, "unified", path, "cgroup.procs")
		return os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0o644)
	}
	return nil
}

// cgroupDirs returns the pod cgroup's directory in every mounted cgroup hierarchy.
func cgroupDirs(path string) ([]string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range mounts {
		dirs = append(dirs, filepath.Join(m.Mountpoint, path))
	}
	return dirs, nil
}

// removeCgroup removes the pod cgroup and anything left below it from every hierarchy,
// retrying while the kernel still reports it busy (processes exiting).
func removeCgroup(ctx context.Context, path string) error {
	dirs, err := cgroupDirs(path)
	if err != nil {
		return err
	}
	delay := 5 * time.Millisecond
	for {
		var left error
		for _, d := range dirs {
			if err := rmdirTree(d); err != nil {
				left = err
			}
		}
		if left == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", path, left)
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// rmdirTree removes a cgroup directory and its child cgroups, deepest first (cgroupfs only
// allows rmdir, never unlinking the control files).
func rmdirTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// cgroupMode names the host's cgroup setup: "v2" (unified) or "v1" (legacy or hybrid).
func cgroupMode() string {
	if cgroups.Mode() == cgroups.Unified {
		return "v2"
	}
	return "v1"
}
