package preflight

import (
	"os"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// cgroupRoot is where every distribution mounts the cgroup tree.
const cgroupRoot = "/sys/fs/cgroup"

// requiredControllers are what pod and container limits need; the kubelet sets cpu and memory
// limits on every pod and pids on most.
var requiredControllers = []string{"cpu", "memory", "pids"}

// checkCgroups reports the cgroup mode and the controllers crishim uses.
func (h Host) checkCgroups() []Result {
	f, err := os.Open(h.path("/proc/self/mountinfo"))
	if err != nil {
		return []Result{{Name: "cgroups", Status: Fail, Detail: "cannot read /proc/self/mountinfo: " + err.Error(), Fix: "mount /proc"}}
	}
	mounts, err := mountinfo.GetMountsFromReader(f, mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	f.Close()
	if err != nil {
		return []Result{{Name: "cgroups", Status: Fail, Detail: "parse mountinfo: " + err.Error(), Fix: "mount /proc"}}
	}
	mode, v1 := "", map[string]bool{}
	for _, m := range mounts {
		switch {
		case m.FSType == "cgroup2" && m.Mountpoint == cgroupRoot:
			mode = "v2"
		case m.FSType == "cgroup2" && m.Mountpoint == cgroupRoot+"/unified":
			if mode == "" {
				mode = "hybrid"
			}
		case m.FSType == "cgroup":
			for _, o := range strings.Split(m.VFSOptions, ",") {
				v1[o] = true
			}
		}
	}
	switch {
	case mode == "v2":
		return []Result{{Name: "cgroup mode", Detail: "v2 (unified)"}, h.v2Controllers()}
	case len(v1) > 0 && mode == "hybrid":
		mode = "hybrid (v1 controllers, cgroup2 at " + cgroupRoot + "/unified)"
	case len(v1) > 0:
		mode = "v1 (legacy)"
	default:
		return []Result{{Name: "cgroup mode", Status: Fail, Detail: "no cgroup filesystem mounted at " + cgroupRoot,
			Fix: "mount -t cgroup2 none " + cgroupRoot + " (or boot with systemd, which mounts it)"}}
	}
	return []Result{{Name: "cgroup mode", Detail: mode}, h.v1Controllers(v1)}
}

func (h Host) v2Controllers() Result {
	s, err := h.read(cgroupRoot + "/cgroup.controllers")
	if err != nil {
		return Result{Name: "cgroup controllers", Status: Fail, Detail: "cannot read cgroup.controllers: " + err.Error(), Fix: "mount cgroup2 at " + cgroupRoot}
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(s) {
		have[c] = true
	}
	return controllersResult(have, map[string]bool{},
		"boot without cgroup_disable=<name> (and a kernel with the controller)",
		"the kernel lacks it (CONFIG_CGROUP_HUGETLB) or it is disabled on the command line")
}

// v1Controllers judges v1 controllers by their mounts; /proc/cgroups tells a controller that
// is compiled in but unmounted from one the kernel disabled.
func (h Host) v1Controllers(mounted map[string]bool) Result {
	disabled := map[string]bool{}
	if s, err := h.read("/proc/cgroups"); err == nil {
		for _, line := range strings.Split(s, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[3] == "0" {
				disabled[f[0]] = true
			}
		}
	}
	return controllersResult(mounted, disabled,
		"mount it: mkdir -p "+cgroupRoot+"/<name> && mount -t cgroup -o <name> cgroup "+cgroupRoot+"/<name> (or boot with cgroup v2: systemd.unified_cgroup_hierarchy=1)",
		"mkdir -p "+cgroupRoot+"/hugetlb && mount -t cgroup -o hugetlb cgroup "+cgroupRoot+"/hugetlb")
}

// controllersResult: a missing required controller fails; a missing hugetlb only warns,
// because the kubelet's hugepage limits are then the only thing lost.
func controllersResult(have, disabled map[string]bool, fix, hugetlbFix string) Result {
	r := Result{Name: "cgroup controllers"}
	var missing, found []string
	for _, c := range requiredControllers {
		if have[c] {
			found = append(found, c)
		} else {
			missing = append(missing, c)
		}
	}
	sort.Strings(found)
	r.Detail = strings.Join(found, " ")
	if len(missing) > 0 {
		r.Status = Fail
		r.Detail += "; missing: " + strings.Join(missing, " ")
		r.Fix = strings.ReplaceAll(fix, "<name>", missing[0])
		for _, m := range missing {
			if disabled[m] {
				r.Fix = "boot without cgroup_disable=" + m + " (" + m + " is disabled in /proc/cgroups)"
			}
		}
		return r
	}
	if !have["hugetlb"] {
		r.Status = Warn
		r.Detail += "; hugetlb missing: hugepage limits are not enforced (crishim drops them, as containerd does)"
		r.Fix = hugetlbFix + " (optional: only pods that request hugepages need it)"
		return r
	}
	r.Detail += " hugetlb"
	return r
}
