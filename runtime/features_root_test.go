package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer/seccomp"
)

func execOut(t *testing.T, m *Manager, id string, cmd ...string) string {
	t.Helper()
	out, errb, code, err := m.ExecSync(context.Background(), id, cmd, 10*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exec %v: code %d err %v stderr %q", cmd, code, err, errb)
	}
	return strings.TrimSpace(string(out))
}

func procStatusField(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, key+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, key+":"))
		}
	}
	return ""
}

func TestSecurityFeatures(t *testing.T) {
	needRoot(t)
	if !seccomp.Enabled {
		t.Skip("built without -tags seccomp: seccomp profiles cannot be tested")
	}
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	hostDir := t.TempDir()
	_ = os.WriteFile(filepath.Join(hostDir, "f"), []byte("host"), 0o644)

	def := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Security.Seccomp.Type = SeccompRuntimeDefault
		s.Security.RunAsUser = i64(1000)
		s.Security.SupplementalGroups = []int64{1234}
		s.Security.ReadOnlyRootfs = true
		s.Mounts = []ContainerMount{{Source: hostDir, Destination: "/data", Readonly: true}}
	})
	st := execOut(t, m, def.ID, "cat", "/proc/self/status")
	if procStatusField(st, "Seccomp") != "2" || procStatusField(st, "NoNewPrivs") != "0" {
		t.Errorf("default container: Seccomp %q NoNewPrivs %q", procStatusField(st, "Seccomp"), procStatusField(st, "NoNewPrivs"))
	}
	if got := execOut(t, m, def.ID, "id", "-G"); got != "1000 1234 50000" {
		t.Errorf("id -G = %q", got)
	}
	if got := execOut(t, m, def.ID, "id", "-u"); got != "1000" {
		t.Errorf("id -u = %q", got)
	}
	if s, _ := m.Status(def.ID); s.User.UID != 1000 || s.User.GID != 1000 || len(s.User.SupplementalGroups) != 3 {
		t.Errorf("status user %+v", s.User)
	}
	if _, _, code, _ := m.ExecSync(context.Background(), def.ID, []string{"touch", "/x"}, 5*time.Second); code == 0 {
		t.Errorf("read-only rootfs is writable")
	}
	if _, _, code, _ := m.ExecSync(context.Background(), def.ID, []string{"touch", "/data/y"}, 5*time.Second); code == 0 {
		t.Errorf("read-only mount is writable")
	}
	if got := execOut(t, m, def.ID, "cat", "/data/f", "/etc/hostname"); got != "hosttestpod" {
		t.Errorf("mount and pod files: %q", got)
	}
	// Whole mount points: kernels with sysrq also have a read-only /proc/sysrq-trigger.
	if got := execOut(t, m, def.ID, "sh", "-c", "grep -c -E ' /proc/(keys|sys|acpi) ' /proc/self/mountinfo; hostname"); got != "3\ntestpod" {
		t.Errorf("masked /proc/keys, /proc/acpi, read-only /proc/sys, hostname: %q", got)
	}

	priv := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Security.Privileged = true
		s.Security.Seccomp.Type = SeccompRuntimeDefault
	})
	st = execOut(t, m, priv.ID, "cat", "/proc/self/status")
	if procStatusField(st, "Seccomp") != "0" {
		t.Errorf("privileged has seccomp %q", procStatusField(st, "Seccomp"))
	}
	host, _ := readHostInfo(true)
	if got, want := procStatusField(st, "CapEff"), capMaskHex(host.Caps); got != want {
		t.Errorf("privileged CapEff %s, want the daemon's %s", got, want)
	}
	dropAll := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Security.CapDrop = []string{"ALL"}
		s.Security.NoNewPrivs = true
	})
	st = execOut(t, m, dropAll.ID, "cat", "/proc/self/status")
	if procStatusField(st, "CapEff") != "0000000000000000" || procStatusField(st, "NoNewPrivs") != "1" {
		t.Errorf("drop ALL: CapEff %s NoNewPrivs %s", procStatusField(st, "CapEff"), procStatusField(st, "NoNewPrivs"))
	}
}

func capMaskHex(caps []string) string {
	var mask uint64
	for i, n := range allCapNames {
		for _, c := range caps {
			if c == n {
				mask |= 1 << uint(i)
			}
		}
	}
	return fmt.Sprintf("%016x", mask)
}

func TestPIDTargetAndTTY(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, nil)
	b := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Pod.PIDMode, s.Pod.PIDTarget = PIDModeTarget, a.ID
		s.Command = []string{"sleep", "999"}
	})
	if got := execOut(t, m, b.ID, "sh", "-c", "ps -o args | grep -c '^sleep'"); got != "2" {
		t.Errorf("target pid ns: %q sleep processes, want 2", got)
	}
	tty := pod.spec("tty", "sh", "-c", "tty; echo out; echo err >&2")
	tty.TTY = true
	st, err := m.Create(context.Background(), tty)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background(), st.ID); err != nil {
		t.Fatal(err)
	}
	waitExit(t, m, st.ID, 10*time.Second)
	lines := readLog(t, tty.LogPath)
	if len(lines) != 3 || lines[0][2] != "/dev/pts/0" || lines[1][2] != "out" || lines[2] != [3]string{"stdout", "F", "err"} {
		t.Errorf("tty log: %v", lines)
	}
}

func TestOOMKilled(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	spec := pod.spec("oom", "tail", "/dev/zero")
	spec.Resources.MemoryLimitInBytes = 16 << 20
	spec.Resources.MemorySwapLimitInBytes = 16 << 20
	st, err := m.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.RemovePodContainers(context.Background(), pod.id) })
	if err := m.Start(context.Background(), st.ID); err != nil {
		t.Fatal(err)
	}
	ex := waitExit(t, m, st.ID, 30*time.Second)
	if ex.Reason != ReasonOOMKilled || ex.ExitCode != 137 {
		t.Fatalf("exit %d reason %q, want 137 OOMKilled", ex.ExitCode, ex.Reason)
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	needRoot(t)
	rootfs := newTestRootfs(t)
	root := t.TempDir()
	m := newTestManager(t, rootfs, root, t.TempDir())
	pod := newTestPod(t)
	t.Cleanup(func() { _ = m.RemovePodContainers(context.Background(), pod.id) })
	spec := pod.spec("bad", "/no/such/binary")
	if _, err := m.Create(context.Background(), spec); err == nil {
		t.Fatal("create with a missing binary succeeded")
	}
	spec2 := pod.spec("bad2", "true")
	spec2.Security.RunAsUsername = "no-such-user"
	if _, err := m.Create(context.Background(), spec2); !isKind(err, errInvalidMon) {
		t.Fatalf("unknown user: %v", err)
	}
	if e, _ := os.ReadDir(filepath.Join(root, "containers")); len(e) != 0 || rootfs.count() != 0 || len(m.List()) != 0 {
		t.Fatalf("leftovers: dirs %v rootfs %d list %d", e, rootfs.count(), len(m.List()))
	}
	if e, _ := os.ReadDir(m.lcRoot); len(e) != 0 {
		t.Fatalf("libcontainer state left: %v", e)
	}
	for _, mp := range cgroupMounts() {
		if e, _ := os.ReadDir(filepath.Join(mp, pod.cgroup)); len(dirsOnly(e)) != 0 {
			t.Fatalf("cgroup left under %s: %v", filepath.Join(mp, pod.cgroup), e)
		}
	}
	spec.Command = []string{"true"}
	if _, err := m.Create(context.Background(), spec); err != nil {
		t.Fatalf("name not released after a failed create: %v", err)
	}
}

func dirsOnly(e []os.DirEntry) []string {
	var out []string
	for _, x := range e {
		if x.IsDir() {
			out = append(out, x.Name())
		}
	}
	return out
}

// cgroupLimit reads a limit of a container cgroup: v1 from the controller's hierarchy, v2 from
// /sys/fs/cgroup (v2 names: memory.max, cpu.max, cpu.weight, pids.max).
func cgroupLimit(t *testing.T, path, v1ctl, v1file, v2file string) string {
	t.Helper()
	f := filepath.Join("/sys/fs/cgroup", v1ctl, path, v1file)
	if fileExists("/sys/fs/cgroup/cgroup.controllers") {
		f = filepath.Join("/sys/fs/cgroup", path, v2file)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestUpdateResourcesAndStats creates a container with memory, CPU and pids limits, updates
// them, and checks the cgroup files (v1 or v2) after each step. CPU shares updated to N must
// give the cgroup the same cpu.shares (v1) or cpu.weight (v2) as a container created with N.
func TestUpdateResourcesAndStats(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Resources.MemoryLimitInBytes = 64 << 20
		s.Resources.CPUQuota, s.Resources.CPUPeriod = 50000, 100000
		s.Resources.PidsLimit = 100
		s.Resources.CPUShares = 512
	})
	b := startSleeper(t, m, pod, func(s *ContainerSpec) { s.Resources.CPUShares = 2048 })
	cg := filepath.Join(pod.cgroup, a.ID)
	v2 := fileExists("/sys/fs/cgroup/cgroup.controllers")
	shares := func(id string) string {
		return cgroupLimit(t, filepath.Join(pod.cgroup, id), "cpu", "cpu.shares", "cpu.weight")
	}
	check := func(step, mem, quota, period, pids string) {
		t.Helper()
		if v := cgroupLimit(t, cg, "memory", "memory.limit_in_bytes", "memory.max"); v != mem {
			t.Errorf("%s: memory limit %q, want %s", step, v, mem)
		}
		if v2 {
			if v := cgroupLimit(t, cg, "", "", "cpu.max"); v != quota+" "+period {
				t.Errorf("%s: cpu.max %q, want %s %s", step, v, quota, period)
			}
		} else {
			q := cgroupLimit(t, cg, "cpu", "cpu.cfs_quota_us", "")
			p := cgroupLimit(t, cg, "cpu", "cpu.cfs_period_us", "")
			if q != quota || p != period {
				t.Errorf("%s: cfs quota %s period %s, want %s %s", step, q, p, quota, period)
			}
		}
		if v := cgroupLimit(t, cg, "pids", "pids.max", "pids.max"); v != pids {
			t.Errorf("%s: pids.max %q, want %s", step, v, pids)
		}
	}
	check("create", fmt.Sprint(64<<20), "50000", "100000", "100")
	created, want := shares(a.ID), shares(b.ID)
	if created == want {
		t.Fatalf("512 and 2048 shares give the same cpu shares/weight %s", want)
	}
	ctx := context.Background()
	upd := Resources{MemoryLimitInBytes: 96 << 20, CPUShares: 2048, CPUQuota: 20000, CPUPeriod: 50000, PidsLimit: 50}
	if err := m.UpdateResources(ctx, a.ID, upd); err != nil {
		t.Fatal(err)
	}
	check("update", fmt.Sprint(96<<20), "20000", "50000", "50")
	if got := shares(a.ID); got != want {
		t.Errorf("cpu shares/weight after an update to 2048 shares: %s (was %s), want %s as created", got, created, want)
	}
	if st, _ := m.Status(a.ID); st.Resources.MemoryLimitInBytes != 96<<20 || st.Resources.CPUShares != 2048 || st.Resources.PidsLimit != 50 {
		t.Errorf("status resources %+v", st.Resources)
	}
	if err := m.UpdateResources(ctx, a.ID, Resources{MemoryLimitInBytes: -5}); !isKind(err, errInvalidMon) {
		t.Errorf("negative memory: %v", err)
	}
	check("invalid update", fmt.Sprint(96<<20), "20000", "50000", "50")
	s, err := m.Stats(ctx, a.ID)
	if err != nil || s.MemoryUsage == 0 || s.CPUUsageNanos == 0 || s.Pids == 0 {
		t.Errorf("stats %+v %v", s, err)
	}
}

func TestImageVolume(t *testing.T) {
	needRoot(t)
	rootfs := newTestRootfs(t)
	m := newTestManager(t, rootfs, t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	a := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Mounts = []ContainerMount{{Destination: "/img", ImageID: "sha256:vol", ImageRef: "busybox:vol"}}
	})
	if got := execOut(t, m, a.ID, "ls", "/img/bin/busybox"); got != "/img/bin/busybox" {
		t.Errorf("image volume content: %q", got)
	}
	if _, _, code, _ := m.ExecSync(context.Background(), a.ID, []string{"touch", "/img/x"}, 5*time.Second); code == 0 {
		t.Errorf("image volume is writable")
	}
	if rootfs.count() != 2 {
		t.Errorf("%d rootfs prepared, want 2", rootfs.count())
	}
	if err := m.Remove(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if rootfs.count() != 0 {
		t.Errorf("%d rootfs left", rootfs.count())
	}
}
