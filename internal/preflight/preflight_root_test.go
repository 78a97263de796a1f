package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRealHost runs the real checks on this machine and compares the cgroup findings with
// what statfs says, a different way of looking than the mountinfo parsing the checks use.
func TestRealHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the root_dir check mounts a probe overlay")
	}
	dir := t.TempDir()
	p := Params{CNIConfDir: filepath.Join(dir, "net.d"), CNIBinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"},
		CNIWriteDefault: true, Socket: filepath.Join(dir, "run", "crishim.sock"), RootDir: filepath.Join(dir, "root")}
	rs := Run(Real(), p)
	byName := map[string]Result{}
	for _, r := range rs {
		t.Log(r)
		byName[r.Name] = r
	}

	wantMode, hugetlb := "v1", false
	switch {
	case statfsMagic(t, "/sys/fs/cgroup") == unix.CGROUP2_SUPER_MAGIC:
		wantMode = "v2"
		b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		hugetlb = strings.Contains(string(b), "hugetlb")
	case statfsMagic(t, "/sys/fs/cgroup/unified") == unix.CGROUP2_SUPER_MAGIC:
		wantMode = "hybrid"
	}
	if wantMode != "v2" {
		hugetlb = statfsMagic(t, "/sys/fs/cgroup/hugetlb") == unix.CGROUP_SUPER_MAGIC
	}
	if m := byName["cgroup mode"]; m.Status != OK || !strings.HasPrefix(m.Detail, wantMode) {
		t.Errorf("cgroup mode = %s; statfs says %s", m, wantMode)
	}
	c := byName["cgroup controllers"]
	if hugetlb && c.Status != OK || !hugetlb && (c.Status != Warn || !strings.Contains(c.Detail, "hugetlb missing")) {
		t.Errorf("cgroup controllers = %s; hugetlb mounted: %v", c, hugetlb)
	}
	if r := byName["root_dir filesystem"]; r.Status != OK || !strings.Contains(r.Detail, "overlay upper dirs mount") {
		t.Errorf("root_dir on the test's temp dir: %s", r)
	}
	for _, name := range []string{"overlayfs", "namespaces", "seccomp", "socket dir"} {
		if byName[name].Status != OK {
			t.Errorf("%s", byName[name])
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), ".crishim-check-") {
		t.Error("the probe overlay is still mounted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the checks left %v in %s", ents, dir)
	}
}

func statfsMagic(t *testing.T, path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}
