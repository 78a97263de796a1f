package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case DefaultHelperSubcommand:
			os.Exit(HelperMain(os.Args[2:]))
		case DefaultInfraSubcommand:
			os.Exit(InfraMain(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// fakeContainers records calls.
type fakeContainers struct {
	mu            sync.Mutex
	stops, remove map[string]int
}

func (f *fakeContainers) StopPodContainers(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops[id]++
	return nil
}

func (f *fakeContainers) RemovePodContainers(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remove[id]++
	return nil
}

// fakeNetwork hands out IPs; failTeardown makes Teardown fail, with teardownErr when set;
// teardowns counts the Teardown calls.
type fakeNetwork struct {
	mu           sync.Mutex
	attached     map[string]bool
	failTeardown bool
	teardownErr  error
	teardowns    int
	failSetup    bool
	n            int
}

func (f *fakeNetwork) Setup(_ context.Context, p NetworkPod) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !isNsfs(p.NetNSPath) {
		return nil, fmt.Errorf("netns %s not pinned", p.NetNSPath)
	}
	f.n++
	f.attached[p.ID] = true
	if f.failSetup {
		return nil, errors.New("injected setup failure")
	}
	return []string{fmt.Sprintf("10.99.0.%d", f.n)}, nil
}

func (f *fakeNetwork) Teardown(_ context.Context, p NetworkPod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.teardowns++
	if f.failTeardown {
		if f.teardownErr != nil {
			return f.teardownErr
		}
		return fmt.Errorf("injected teardown failure: %w", errdefs.ErrUnavailable)
	}
	delete(f.attached, p.ID)
	return nil
}

func (f *fakeNetwork) Status(context.Context) error { return nil }

type env struct {
	root, state, cgParent string
	ctrs                  *fakeContainers
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	e := &env{root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		cgParent: fmt.Sprintf("/crishim-test-%s", newID()[:12]),
		ctrs:     &fakeContainers{stops: map[string]int{}, remove: map[string]int{}}}
	t.Cleanup(func() {
		removeCgroup(context.Background(), e.cgParent)
		e.checkClean(t)
	})
	return e
}

func (e *env) manager(t *testing.T, net Network) *Manager {
	t.Helper()
	m, err := New(DefaultConfig(), e.root, e.state, e.cgParent, net, e.ctrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkClean fails when a mount, pod dir, cgroup or infra process of this test is left.
func (e *env) checkClean(t *testing.T) {
	t.Helper()
	ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.state))
	for _, m := range ms {
		t.Errorf("mount left: %s (%s)", m.Mountpoint, m.FSType)
	}
	for _, d := range []string{filepath.Join(e.root, "pods"), filepath.Join(e.state, "pods")} {
		ents, _ := os.ReadDir(d)
		for _, x := range ents {
			t.Errorf("pod dir left: %s/%s", d, x.Name())
		}
	}
	dirs, _ := cgroupDirs(e.cgParent)
	for _, d := range dirs {
		if ents, err := os.ReadDir(d); err == nil {
			for _, x := range ents {
				if x.IsDir() {
					t.Errorf("cgroup left: %s/%s", d, x.Name())
				}
			}
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if strings.Contains(string(b), e.state) {
			t.Errorf("process left: pid %s %q", p.Name(), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func podConfig(name string) PodConfig {
	return PodConfig{Name: name, Namespace: "test", UID: "uid-" + name, Hostname: "host-" + name,
		Labels: map[string]string{"app": name}, Namespaces: NamespaceOptions{PID: NamespaceModeContainer},
		DNS: &DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc.local"}}}
}

// inNS runs fn on a locked thread switched into the namespace pinned at path.
func inNS(t *testing.T, path string, nstype int, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(path)
		if err == nil {
			err = unix.Setns(int(f.Fd()), nstype)
			f.Close()
		}
		if err == nil {
			fn()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRootPodNamespaces(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("ns"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != StateReady || sb.NetNSPath == "" || sb.IPCNSPath == "" || sb.UTSNSPath == "" || len(sb.IPs) != 0 {
		t.Fatalf("sandbox %+v", sb)
	}
	h, err := netns.GetFromPath(sb.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := netns.Get()
	if h.Equal(self) {
		t.Fatal("pod netns is the host's")
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := nl.LinkByName("lo")
	if err != nil || lo.Attrs().Flags&1 == 0 {
		t.Fatalf("lo not up in pod netns: %v %v", lo, err)
	}
	nl.Close()
	h.Close()
	self.Close()
	inNS(t, sb.UTSNSPath, unix.CLONE_NEWUTS, func() {
		var u unix.Utsname
		unix.Uname(&u)
		if got := unix.ByteSliceToString(u.Nodename[:]); got != "host-ns" {
			t.Errorf("hostname in pod uts ns = %q", got)
		}
	})
	for path, want := range map[string]string{sb.HostnamePath: "host-ns\n", sb.ResolvPath: "nameserver 10.0.0.10\nsearch svc.local\n"} {
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Errorf("%s = %q, want %q", path, b, want)
		}
	}
	if !mounted(sb.ShmPath) || !cgroupExists(sb.CgroupParent) {
		t.Errorf("shm mounted %v, cgroup exists %v", mounted(sb.ShmPath), cgroupExists(sb.CgroupParent))
	}
	if _, err := m.Run(ctx, podConfig("ns")); !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), sb.ID) {
		t.Errorf("second run: %v", err)
	}
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get(sb.ID[:10]); got.State != StateNotReady || mounted(sb.ShmPath) {
		t.Errorf("after stop: state %v, shm mounted %v", got.State, mounted(sb.ShmPath))
	}
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, sb.ID); err != nil || m.Stop(ctx, "unknown") != nil {
		t.Fatal("remove/stop not idempotent")
	}
	if _, err := m.Get(sb.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after remove: %v", err)
	}
	if e.ctrs.stops[sb.ID] == 0 || e.ctrs.remove[sb.ID] != 1 {
		t.Errorf("containers calls: stop %d remove %d", e.ctrs.stops[sb.ID], e.ctrs.remove[sb.ID])
	}
}

func TestRootPodInfra(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	c := podConfig("infra")
	c.Namespaces.PID = NamespaceModePod
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if sb.InfraPID <= 0 || sb.PIDNSPath != fmt.Sprintf("/proc/%d/ns/pid", sb.InfraPID) {
		t.Fatalf("infra: %+v", sb)
	}
	pidns, err := os.Readlink(sb.PIDNSPath)
	self, _ := os.Readlink("/proc/self/ns/pid")
	if err != nil || pidns == self {
		t.Fatalf("pid ns %q (self %q): %v", pidns, self, err)
	}
	// The infra's net ns is the pinned one.
	infraNet, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", sb.InfraPID))
	var st unix.Stat_t
	unix.Stat(sb.NetNSPath, &st)
	if !strings.Contains(infraNet, fmt.Sprint(st.Ino)) {
		t.Errorf("infra netns %s, pin inode %d", infraNet, st.Ino)
	}
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if alive(sb.InfraPID, m.pods[sb.ID].rec.InfraStart) {
		t.Fatal("infra alive after stop")
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRootHostNamespaces(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, &fakeNetwork{attached: map[string]bool{}})
	c := podConfig("host")
	c.Namespaces = NamespaceOptions{Network: NamespaceModeNode, IPC: NamespaceModeNode, PID: NamespaceModeNode}
	sb, err := m.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	hn, _ := os.Hostname()
	if sb.NetNSPath != "" || sb.IPCNSPath != "" || sb.UTSNSPath != "" || sb.ShmPath != "" || sb.PIDNSPath != "" ||
		!sb.HostPID || sb.Hostname != hn || len(sb.IPs) != 0 {
		t.Fatalf("host pod %+v", sb)
	}
	if err := m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRootInfraInPodCgroup(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	c := podConfig("cg")
	c.Namespaces.PID = NamespaceModePod
	c.Resources = &Resources{CPUShares: 256, MemoryLimitBytes: 128 << 20}
	sb, err := m.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sb.InfraPID))
	if !strings.Contains(string(b), sb.CgroupParent) {
		t.Errorf("infra cgroups %s, want below %s", b, sb.CgroupParent)
	}
	limitFile := filepath.Join("/sys/fs/cgroup/memory", sb.CgroupParent, "memory.limit_in_bytes")
	if cgroupMode() == "v2" {
		limitFile = filepath.Join(unifiedRoot, sb.CgroupParent, "memory.max")
		// The infra process sits in a child: a cgroup2 parent with processes could not give
		// controllers to its containers.
		if !strings.Contains(string(b), "0::"+sb.CgroupParent+"/infra\n") {
			t.Errorf("infra cgroup %q, want %s/infra", b, sb.CgroupParent)
		}
	}
	if limit, _ := os.ReadFile(limitFile); strings.TrimSpace(string(limit)) != fmt.Sprint(128<<20) {
		t.Errorf("memory limit %q in %s", limit, limitFile)
	}
	if err := m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
}
