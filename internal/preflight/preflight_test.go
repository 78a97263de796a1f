package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// v1Mountinfo is this kind of host: v1 controllers, cgroup2 at /sys/fs/cgroup/unified,
// hugetlb compiled in but not mounted.
const v1Mountinfo = `22 1 0:21 / /sys rw - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
`

const v1ProcCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpu	1	1	1
memory	4	55	1
hugetlb	0	1	1
pids	8	1	1
`

const v2Mountinfo = `22 1 0:21 / /sys rw - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
`

// fakeHost builds a healthy cgroup v2 host: every check passes.
type fakeHost struct {
	t      *testing.T
	host   Host
	params Params
}

func newFake(t *testing.T) *fakeHost {
	root := t.TempDir()
	f := &fakeHost{t: t, host: Host{Root: root}}
	f.write("/proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n")
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt", "user"} {
		f.writeAt(root, "/proc/self/ns/"+ns, "")
	}
	f.writeAt(root, "/proc/sys/user/max_user_namespaces", "63000\n")
	f.writeAt(root, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
	f.writeAt(root, "/proc/sys/kernel/seccomp/actions_avail", "kill_process kill_thread trap errno user_notif trace log allow\n")
	f.writeAt(root, "/proc/self/mountinfo", v2Mountinfo)
	f.writeAt(root, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
	bin := filepath.Join(t.TempDir(), "bin")
	for _, p := range defaultPlugins {
		f.writeAt(bin, "/"+p, "#!/bin/sh\n")
		os.Chmod(filepath.Join(bin, p), 0o755)
	}
	dir := t.TempDir()
	f.host = Host{Root: root,
		LookPath:     func(string) (string, error) { return "/usr/sbin/iptables", nil },
		MountSetattr: func() bool { return true },
		FSType:       func(string) (int64, error) { return 0xef53, nil },
		DirentTypes:  func(string) (bool, error) { return true, nil },
		OverlayProbe: func(string) error { return nil },
	}
	f.params = Params{CNIConfDir: filepath.Join(dir, "net.d"), CNIBinDirs: []string{filepath.Join(dir, "none"), bin},
		CNIWriteDefault: true, Socket: filepath.Join(dir, "run", "crishim.sock"), RootDir: filepath.Join(dir, "lib", "crishim")}
	return f
}

func (f *fakeHost) write(p, s string) { f.writeAt(f.host.Root, p, s) }

func (f *fakeHost) writeAt(root, p, s string) {
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// result runs every check and returns the one named name.
func (f *fakeHost) result(name string) Result {
	f.t.Helper()
	for _, r := range Run(f.host, f.params) {
		if r.Name == name {
			return r
		}
	}
	f.t.Fatalf("no check named %q", name)
	return Result{}
}

func expect(t *testing.T, r Result, st Status, detail, fix string) {
	t.Helper()
	if r.Status != st || !strings.Contains(r.Detail, detail) || !strings.Contains(r.Fix, fix) {
		t.Errorf("%s = %v %q (fix %q); want %v, detail containing %q, fix containing %q", r.Name, r.Status, r.Detail, r.Fix, st, detail, fix)
	}
}

func TestHealthyV2HostPasses(t *testing.T) {
	f := newFake(t)
	rs := Run(f.host, f.params)
	if len(rs) != 12 {
		t.Errorf("got %d results, want 12", len(rs))
	}
	for _, r := range rs {
		if r.Status != OK {
			t.Errorf("%s", r)
		}
	}
	if Failed(rs) {
		t.Error("Failed() on a healthy host")
	}
	expect(t, f.result("cgroup mode"), OK, "v2", "")
	expect(t, f.result("cgroup controllers"), OK, "cpu memory pids hugetlb", "")
	expect(t, f.result("user namespaces"), OK, "63000", "")
	expect(t, f.result("CNI config"), OK, "writes its default bridge network", "")
}

func TestHybridV1WithoutHugetlbWarns(t *testing.T) {
	f := newFake(t)
	f.write("/proc/self/mountinfo", v1Mountinfo)
	f.write("/proc/cgroups", v1ProcCgroups)
	expect(t, f.result("cgroup mode"), OK, "hybrid", "")
	expect(t, f.result("cgroup controllers"), Warn, "hugetlb missing", "mount -t cgroup -o hugetlb")
	if Failed(Run(f.host, f.params)) {
		t.Error("a missing hugetlb controller must not fail the check")
	}
}

func TestCgroupControllerMissing(t *testing.T) {
	f := newFake(t)
	f.write("/proc/cgroups", strings.Replace(v1ProcCgroups, "memory\t4\t55\t1", "memory\t0\t1\t0", 1))
	f.write("/proc/self/mountinfo", strings.Replace(v1Mountinfo, "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "", 1))
	expect(t, f.result("cgroup controllers"), Fail, "missing: memory", "cgroup_disable=memory")

	f.write("/proc/self/mountinfo", v2Mountinfo)
	f.write("/sys/fs/cgroup/cgroup.controllers", "cpu io memory\n")
	expect(t, f.result("cgroup controllers"), Fail, "missing: pids", "cgroup_disable=pids")

	f.write("/proc/self/mountinfo", "22 1 0:21 / /sys rw - sysfs sysfs rw\n")
	expect(t, f.result("cgroup mode"), Fail, "no cgroup filesystem", "mount -t cgroup2")
}

func TestKernelFeatures(t *testing.T) {
	f := newFake(t)
	f.write("/proc/filesystems", "nodev\tsysfs\n")
	expect(t, f.result("overlayfs"), Fail, "no overlay", "CONFIG_OVERLAY_FS")
	f.write("/lib/modules/6.1.0-18-amd64/modules.dep", "kernel/fs/overlayfs/overlay.ko:\n")
	expect(t, f.result("overlayfs"), Warn, "not loaded", "modprobe overlay")

	os.Remove(filepath.Join(f.host.Root, "/proc/self/ns/pid"))
	os.Remove(filepath.Join(f.host.Root, "/proc/self/ns/user"))
	expect(t, f.result("namespaces"), Fail, "missing: pid, user", "CONFIG_NAMESPACES")

	f.write("/proc/sys/user/max_user_namespaces", "0\n")
	expect(t, f.result("user namespaces"), Warn, "disabled", "max_user_namespaces=")
	os.Remove(filepath.Join(f.host.Root, "/proc/sys/user/max_user_namespaces"))
	expect(t, f.result("user namespaces"), Warn, "not available", "CONFIG_USER_NS")

	f.write("/proc/sys/kernel/osrelease", "5.15.0-91-generic")
	expect(t, f.result("idmapped mounts"), Warn, "cannot stack overlayfs", "5.19")
	f.write("/proc/sys/kernel/osrelease", "6.18.44-fc-v1252")
	expect(t, f.result("idmapped mounts"), OK, "6.18.44", "")
	f.host.MountSetattr = func() bool { return false }
	expect(t, f.result("idmapped mounts"), Warn, "mount_setattr unavailable", "5.19")

	os.Remove(filepath.Join(f.host.Root, "/proc/sys/kernel/seccomp/actions_avail"))
	f.write("/proc/self/status", "Name:\tx\nSeccomp:\t0\n")
	expect(t, f.result("seccomp"), OK, "older than 4.14", "")
	f.write("/proc/self/status", "Name:\tx\n")
	expect(t, f.result("seccomp"), Fail, "no seccomp", "CONFIG_SECCOMP_FILTER")
	if !Failed(Run(f.host, f.params)) {
		t.Error("Failed() false with failing checks")
	}
}

func TestCNIChecks(t *testing.T) {
	f := newFake(t)
	f.params.CNIWriteDefault = false
	expect(t, f.result("CNI config"), Fail, "no network config", "write_default")

	f.writeAt(f.params.CNIConfDir, "10-calico.conflist", `{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"calico"},{"type":"portmap"}]}`)
	f.writeAt(f.params.CNIConfDir, "20-other.conf", `{"type":"bridge"}`)
	expect(t, f.result("CNI config"), OK, "pod network from 10-calico.conflist", "")
	expect(t, f.result("CNI plugins"), Fail, "calico", "containernetworking-plugins")

	os.Remove(filepath.Join(f.params.CNIConfDir, "10-calico.conflist"))
	expect(t, f.result("CNI plugins"), OK, "bridge (", "")

	os.Remove(filepath.Join(f.params.CNIBinDirs[1], "loopback"))
	r := f.result("CNI plugins")
	expect(t, r, Fail, "loopback", "/usr/lib/cni")
	if strings.Contains(r.Detail, "bridge") {
		t.Errorf("bridge is present but reported missing: %s", r)
	}
}

func TestIptablesAndSocketDir(t *testing.T) {
	f := newFake(t)
	f.host.LookPath = func(string) (string, error) { return "", errors.New("not found") }
	expect(t, f.result("iptables"), Fail, "not on PATH", "apt-get install iptables")

	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	f.params.Socket = filepath.Join(file, "sub", "crishim.sock")
	expect(t, f.result("socket dir"), Fail, "not a directory", "writable directory")
}

func TestRootDirFilesystem(t *testing.T) {
	f := newFake(t)
	r := f.result("root_dir filesystem")
	expect(t, r, OK, "d_type, overlay upper dirs mount", "")

	f.host.OverlayProbe = func(string) error { return errors.New("invalid argument") }
	expect(t, f.result("root_dir filesystem"), Fail, "does not mount: invalid argument", "ext4")
	f.host.DirentTypes = func(string) (bool, error) { return false, nil }
	expect(t, f.result("root_dir filesystem"), Fail, "d_type", "xfs (ftype=1)")
	f.host.FSType = func(string) (int64, error) { return overlayMagic, nil }
	expect(t, f.result("root_dir filesystem"), Fail, "on overlayfs", "ext4")

	// The probe dir never outlives the check.
	ents, _ := os.ReadDir(existingAncestor(f.params.RootDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".crishim-check-") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Name: "iptables", Status: Fail, Detail: "not on PATH", Fix: "apt-get install iptables"}
	if got, want := r.String(), "FAIL  iptables: not on PATH — fix: apt-get install iptables"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r.Status = OK
	if got := r.String(); strings.Contains(got, "fix") {
		t.Errorf("OK line carries a fix: %q", got)
	}
}

func TestDirentTypesOnTmp(t *testing.T) {
	ok, err := direntTypes(t.TempDir())
	if err != nil || !ok {
		t.Errorf("direntTypes = %v, %v; want true on the test's temp dir", ok, err)
	}
}

func TestKernelVersion(t *testing.T) {
	for rel, want := range map[string][2]int{"6.1.0-18-amd64": {6, 1}, "5.19": {5, 19}, "4.9.337+": {4, 9}, "6.18rc1": {6, 18}} {
		maj, min, ok := kernelVersion(rel)
		if !ok || maj != want[0] || min != want[1] {
			t.Errorf("kernelVersion(%q) = %d.%d %v", rel, maj, min, ok)
		}
	}
	if _, _, ok := kernelVersion("garbage"); ok {
		t.Error("garbage parsed")
	}
}
