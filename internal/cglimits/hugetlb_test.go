package cglimits

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// /proc/cgroups of a hybrid host whose hugetlb controller is enabled but not mounted
// (hierarchy 0), as on the machines this project is tested on.
const procCgroupsUnmounted = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
memory	4	55	1
hugetlb	0	1	1
pids	8	1	1
`

func TestControllerEnabledV1(t *testing.T) {
	if !controllerEnabledV1([]byte(procCgroupsUnmounted), "hugetlb") {
		t.Fatal("hugetlb enabled: not seen")
	}
	if controllerEnabledV1([]byte("#subsys_name	hierarchy	num_cgroups	enabled\nhugetlb	0	1	0\n"), "hugetlb") {
		t.Fatal("disabled hugetlb (cgroup_disable=hugetlb) reported enabled")
	}
	if controllerEnabledV1([]byte(procCgroupsUnmounted), "rdma") {
		t.Fatal("a controller the kernel lacks reported enabled")
	}
}

func TestMountedV1(t *testing.T) {
	cpu := &mountinfo.Info{FSType: "cgroup", Mountpoint: "/sys/fs/cgroup/cpu", VFSOptions: "rw,cpu"}
	named := &mountinfo.Info{FSType: "cgroup", Mountpoint: "/sys/fs/cgroup/x", VFSOptions: "rw,name=hugetlbish"}
	v2 := &mountinfo.Info{FSType: "cgroup2", Mountpoint: "/sys/fs/cgroup/unified", VFSOptions: "rw"}
	if mountedV1([]*mountinfo.Info{cpu, named, v2}, "hugetlb") {
		t.Fatal("hugetlb reported mounted without a hugetlb hierarchy")
	}
	huge := &mountinfo.Info{FSType: "cgroup", Mountpoint: "/sys/fs/cgroup/hugetlb", VFSOptions: "rw,hugetlb"}
	if !mountedV1([]*mountinfo.Info{cpu, huge}, "hugetlb") {
		t.Fatal("mounted hugetlb hierarchy not seen")
	}
}

func TestHugetlbV2(t *testing.T) {
	root := t.TempDir()
	write := func(dir, controllers string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, "cgroup.controllers"), []byte(controllers), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("/", "cpuset cpu io memory hugetlb pids\n")
	write("/kubepods", "cpu memory pids\n")
	write("/other", "cpuset cpu io memory hugetlb pids\n")
	for path, want := range map[string]bool{
		"/kubepods/pod1/ctr": false, // nearest existing ancestor lacks it
		"/kubepods":          false,
		"/other/pod/ctr":     true,
		"/new/pod/ctr":       true, // falls back to the root
		"":                   true,
		"/../../etc":         true, // cleaned: never reads outside root
	} {
		if got := hugetlbV2(root, path); got != want {
			t.Errorf("hugetlbV2(%q) = %v, want %v", path, got, want)
		}
	}
	write("/", "cpu memory\n")
	if hugetlbV2(root, "/new/ctr") {
		t.Error("hugetlb reported without it in the root's cgroup.controllers")
	}
	if hugetlbV2(filepath.Join(root, "missing"), "/x") {
		t.Error("hugetlb reported on a host without a cgroup2 mount")
	}
}
