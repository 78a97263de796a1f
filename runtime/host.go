package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// allCapNames lists the capabilities by number (index = capability number).
var allCapNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// capsFromMask returns the names of the capabilities set in a /proc status mask.
func capsFromMask(mask uint64) []string {
	var out []string
	for i, n := range allCapNames {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// readHostInfo reads the daemon's own capabilities and oom_score_adj.
func readHostInfo(restrictOOM bool) (hostInfo, error) {
	h := hostInfo{RestrictOOM: restrictOOM, CgroupV2: cgroups.IsCgroup2UnifiedMode()}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return h, err
	}
	var bnd, eff uint64
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "CapBnd":
			bnd, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		case "CapEff":
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	h.Caps = capsFromMask(bnd & eff)
	var nofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err == nil {
		h.NoFileHard = nofile.Max
	}
	oom, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return h, err
	}
	h.OOMScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(oom)))
	if err != nil {
		return h, fmt.Errorf("parse oom_score_adj: %w", err)
	}
	return h, nil
}

func specDevice(dst, src string, d *devconfig.Device) specs.LinuxDevice {
	mode := d.FileMode
	uid, gid := d.Uid, d.Gid
	_ = src
	return specs.LinuxDevice{
		Path: dst, Type: string(d.Type), Major: d.Major, Minor: d.Minor,
		FileMode: &mode, UID: &uid, GID: &gid,
	}
}

// linuxResources converts Resources (into r, which already holds the device rules). Hugepage
// limits are kept only when hugetlb is true (the host has the controller).
func linuxResources(res Resources, v2, hugetlb bool, r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	cpu := &specs.LinuxCPU{Cpus: res.CpusetCpus, Mems: res.CpusetMems}
	if res.CPUShares > 0 {
		v := uint64(res.CPUShares)
		cpu.Shares = &v
	}
	if res.CPUQuota != 0 {
		v := res.CPUQuota
		cpu.Quota = &v
	}
	if res.CPUPeriod > 0 {
		v := uint64(res.CPUPeriod)
		cpu.Period = &v
	}
	if *cpu != (specs.LinuxCPU{}) {
		r.CPU = cpu
	}
	if res.MemoryLimitInBytes > 0 || res.MemorySwapLimitInBytes != 0 {
		r.Memory = &specs.LinuxMemory{}
		if res.MemoryLimitInBytes > 0 {
			v := res.MemoryLimitInBytes
			r.Memory.Limit = &v
		}
		if res.MemorySwapLimitInBytes != 0 {
			v := res.MemorySwapLimitInBytes
			r.Memory.Swap = &v
		}
	}
	for _, h := range res.HugepageLimits {
		if !hugetlb {
			break
		}
		r.HugepageLimits = append(r.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.PageSize, Limit: h.Limit})
	}
	if res.PidsLimit > 0 {
		v := res.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &v}
	}
	if v2 && len(res.Unified) > 0 {
		r.Unified = map[string]string{}
		for k, v := range res.Unified {
			r.Unified[k] = v
		}
	}
	return r
}
