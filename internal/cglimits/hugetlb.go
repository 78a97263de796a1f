package cglimits

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
)

// unifiedRoot is where a cgroup v2 (unified) host mounts its hierarchy.
const unifiedRoot = "/sys/fs/cgroup"

// HugetlbAvailable reports whether hugepage limits can be set on the cgroup at cgroupPath (a
// cgroupfs path below the hierarchy roots, as in an OCI cgroupsPath). A kubelet sends limits
// for every huge page size the kernel offers, and without the controller libcontainer refuses
// to start the container, so callers drop them when this is false.
//
// cgroup v1 (legacy or hybrid, unified == false): the hugetlb controller is enabled in
// /proc/cgroups and a hierarchy with it is mounted in this mount namespace. cgroup v2: hugetlb
// is listed in cgroup.controllers of cgroupPath's nearest existing ancestor (what a new child
// can be given).
func HugetlbAvailable(unified bool, cgroupPath string) bool {
	if unified {
		return hugetlbV2(unifiedRoot, cgroupPath)
	}
	return hugetlbV1()
}

// hugetlbV1 probes a cgroup v1 host once per process: the answer is the same for every cgroup,
// and reading /proc/cgroups and the whole mount table on each CreateContainer (the kubelet
// sends hugepage limits for every container) would grow with the node's mounts. A hugetlb
// hierarchy mounted while the daemon runs is seen after a restart.
var hugetlbV1 = sync.OnceValue(func() bool {
	procCgroups, err := os.ReadFile("/proc/cgroups")
	if err != nil || !controllerEnabledV1(procCgroups, "hugetlb") {
		return false
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return false
	}
	return mountedV1(mounts, "hugetlb")
})

// controllerEnabledV1 reports whether /proc/cgroups (its content) lists name as enabled.
func controllerEnabledV1(procCgroups []byte, name string) bool {
	sc := bufio.NewScanner(bytes.NewReader(procCgroups))
	for sc.Scan() {
		// #subsys_name hierarchy num_cgroups enabled
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == name {
			return f[3] == "1"
		}
	}
	return false
}

// mountedV1 reports whether one of the cgroup v1 mounts carries controller name (its super
// options list the controllers: "rw,hugetlb").
func mountedV1(mounts []*mountinfo.Info, name string) bool {
	for _, m := range mounts {
		if m.FSType == "cgroup" && slices.Contains(strings.Split(m.VFSOptions, ","), name) {
			return true
		}
	}
	return false
}

// hugetlbV2 looks for hugetlb in cgroup.controllers of cgroupPath or its nearest existing
// ancestor below root (the pod cgroup usually exists, the container's does not yet).
func hugetlbV2(root, cgroupPath string) bool {
	p := path.Clean("/" + cgroupPath)
	for {
		b, err := os.ReadFile(path.Join(root, p, "cgroup.controllers"))
		if err == nil {
			return slices.Contains(strings.Fields(string(b)), "hugetlb")
		}
		if !os.IsNotExist(err) || p == "/" {
			return false
		}
		p = path.Dir(p)
	}
}
