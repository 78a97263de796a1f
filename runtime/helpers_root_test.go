package runtime

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

const busyboxPath = "/bin/busybox"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skip("needs a static busybox at " + busyboxPath + " (Debian busybox-static)")
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testRootfs implements Rootfs with an overlay of a busybox template per container.
type testRootfs struct {
	template, dir string
	mu            sync.Mutex
	live          map[string]bool
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// busyboxTemplate builds (once per test binary) a rootfs with busybox and its applets.
func busyboxTemplate(t *testing.T) string {
	templateOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crishim-rt-template-")
		if err != nil {
			templateErr = err
			return
		}
		templateDir = dir
		templateErr = buildTemplate(dir)
	})
	if templateErr != nil {
		t.Fatalf("busybox template: %v", templateErr)
	}
	return templateDir
}

func buildTemplate(dir string) error {
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/user"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	_ = os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	b, err := os.ReadFile(busyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), b, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
		"etc/group":  "root:x:0:\nuser:x:1000:\nwww-data:x:33:\nextra:x:50000:user\nnogroup:x:65534:\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func newTestRootfs(t *testing.T) *testRootfs {
	return &testRootfs{template: busyboxTemplate(t), dir: t.TempDir(), live: map[string]bool{}}
}

func (r *testRootfs) PrepareRootfs(ctx context.Context, key, imageID string) (Mount, error) {
	up := filepath.Join(r.dir, key, "upper")
	wk := filepath.Join(r.dir, key, "work")
	for _, d := range []string{up, wk} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Mount{}, err
		}
	}
	r.mu.Lock()
	r.live[key] = true
	r.mu.Unlock()
	return Mount{Type: "overlay", Source: "overlay",
		Options: []string{"lowerdir=" + r.template, "upperdir=" + up, "workdir=" + wk}}, nil
}

func (r *testRootfs) RemoveRootfs(ctx context.Context, key string) error {
	r.mu.Lock()
	delete(r.live, key)
	r.mu.Unlock()
	return os.RemoveAll(filepath.Join(r.dir, key))
}

func (r *testRootfs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// testPod is a pod made by hand: pinned net/ipc/uts namespaces, a cgroup parent, files.
type testPod struct {
	id, dir, cgroup   string
	net, ipc, uts     string
	hosts, resolv, hn string
	userns            string // pinned user namespace ("" = the host's)
}

// newTestPod pins new net, ipc and uts namespaces (from a throwaway locked thread).
func newTestPod(t *testing.T) *testPod {
	t.Helper()
	p := &testPod{id: "pod-" + randHex(8), dir: t.TempDir()}
	p.cgroup = "/crishim-rt-test-" + p.id
	p.net, p.ipc, p.uts = filepath.Join(p.dir, "net"), filepath.Join(p.dir, "ipc"), filepath.Join(p.dir, "uts")
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with its namespaces
		errc <- pinNamespaces(p)
	}()
	if err := <-errc; err != nil {
		t.Fatalf("pin namespaces: %v", err)
	}
	p.hosts, p.resolv, p.hn = filepath.Join(p.dir, "hosts"), filepath.Join(p.dir, "resolv.conf"), filepath.Join(p.dir, "hostname")
	_ = os.WriteFile(p.hosts, []byte("127.0.0.1 localhost\n"), 0o644)
	_ = os.WriteFile(p.resolv, []byte("nameserver 127.0.0.1\n"), 0o644)
	_ = os.WriteFile(p.hn, []byte("testpod\n"), 0o644)
	t.Cleanup(func() {
		for _, f := range []string{p.net, p.ipc, p.uts} {
			_ = unix.Unmount(f, unix.MNT_DETACH)
		}
		removeCgroup(p.cgroup)
	})
	return p
}

func pinNamespaces(p *testPod) error {
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("testpod")); err != nil {
		return err
	}
	tid := unix.Gettid()
	for name, f := range map[string]string{"net": p.net, "ipc": p.ipc, "uts": p.uts} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return err
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, name)
		if err := unix.Mount(src, f, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	return nil
}

// cgroupMounts lists the mount points of cgroup hierarchies (v1 and v2).
func cgroupMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) && (fields[i+1] == "cgroup" || fields[i+1] == "cgroup2") {
				out = append(out, fields[4])
			}
		}
	}
	return out
}

// cgroupExists reports whether the cgroup path exists in any hierarchy.
func cgroupExists(path string) bool {
	for _, m := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(m, path)); err == nil {
			return true
		}
	}
	return false
}

func removeCgroup(path string) {
	for _, m := range cgroupMounts() {
		_ = os.Remove(filepath.Join(m, path))
	}
}

// spec returns a container spec in the pod running args.
func (p *testPod) spec(name string, args ...string) ContainerSpec {
	return ContainerSpec{
		PodID: p.id, Name: name, Image: Image{Ref: "busybox:test", ID: "sha256:test"},
		Command: args, LogPath: filepath.Join(p.dir, "logs", name+".log"),
		Pod: PodSpec{
			NetNSPath: p.net, IPCNSPath: p.ipc, UTSNSPath: p.uts, PIDMode: PIDModeContainer,
			CgroupParent: p.cgroup, HostsPath: p.hosts, ResolvPath: p.resolv, HostnamePath: p.hn,
			Hostname: "testpod",
		},
	}
}

func newTestManager(t *testing.T, rootfs Rootfs, root, state string) *Manager {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// t.TempDir's parent is 0700; user-namespaced containers must be able to pass through.
	_ = os.Chmod(filepath.Dir(root), 0o711)
	cfg := DefaultConfig()
	self, _ := os.Executable()
	cfg.MonitorPath = self // this test binary serves "monitor" (see main_test.go)
	m, err := New(cfg, root, state, rootfs, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		// Even after a failure: no container, mount or monitor may outlive the test.
		pods := map[string]bool{}
		for _, s := range m.List() {
			pods[s.PodID] = true
		}
		m.mu.Lock()
		for p := range m.monitors {
			pods[p] = true
		}
		m.mu.Unlock()
		for p := range pods {
			if err := m.RemovePodContainers(context.Background(), p); err != nil {
				t.Errorf("cleanup of pod %s: %v", p, err)
			}
		}
		if left, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(root)); len(left) > 0 {
			t.Errorf("mounts left under %s: %v", root, left[0].Mountpoint)
		}
	})
	return m
}

// waitExit waits (through the monitor) until the container has exited.
func waitExit(t *testing.T, m *Manager, id string, d time.Duration) Status {
	t.Helper()
	c, err := m.get(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := m.call(ctx, c.rec.Spec.PodID, monRequest{Op: opWait, ID: id}); err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	st, err := m.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func pidAlive(pid int) bool {
	return pid > 0 && unix.Kill(pid, 0) == nil
}

func isKind(err, kind error) bool { return errors.Is(err, kind) }

var _ = errdefs.ErrNotFound

// eventually polls cond until it holds; the budget only catches a hang (the machine may be
// busy: tests never assert a speed).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
