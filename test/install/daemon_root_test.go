package install

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// node is an installed crishim whose configuration points at the test's own dirs.
type node struct {
	t       *testing.T
	l       layout
	dir     string
	sock    string
	cgroup  string
	daemon  *exec.Cmd
	notify  *net.UnixConn
	rt      runtimeapi.RuntimeServiceClient
	closeRT func()
}

func newNode(t *testing.T) *node {
	dir := t.TempDir()
	os.Chmod(dir, 0o711)
	sfx := fmt.Sprintf("%d", os.Getpid()%100000)
	n := &node{t: t, dir: dir, sock: filepath.Join(dir, "state", "crishim.sock"), cgroup: "/crishim-install-test-" + sfx,
		l: layout{prefix: filepath.Join(dir, "usr"), sysconfdir: filepath.Join(dir, "etc")}}
	n.l.mustRun(t, "install")
	conf := fmt.Sprintf(`root_dir = '%[1]s/root'
log_level = 'debug'
state_dir = '%[1]s/state'
socket = '%[2]s'
[runtime]
cgroup_parent = '%[3]s'
[cni]
conf_dir = '%[1]s/net.d'
network_name = 'crinst%[4]s'
bridge_name = 'crinst%[4]s'
default_subnet = '10.213.0.0/24'
`, dir, n.sock, n.cgroup, sfx)
	if err := os.WriteFile(n.l.conf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.cleanup)
	return n
}

// execStart returns the unit's ExecStart command line.
func (n *node) execStart() []string {
	unit, err := os.ReadFile(n.l.unit())
	if err != nil {
		n.t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
			return strings.Fields(cmd)
		}
	}
	n.t.Fatal("unit has no ExecStart")
	return nil
}

// start runs ExecStart as systemd would for Type=notify: with NOTIFY_SOCKET, waiting for
// READY=1. The socket must accept a CRI call as soon as READY=1 arrives, with no retry.
func (n *node) start() {
	t := n.t
	ns := filepath.Join(n.dir, "notify.sock")
	os.Remove(ns)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n.notify = c
	argv := n.execStart()
	n.daemon = exec.Command(argv[0], argv[1:]...)
	n.daemon.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns)
	logf, _ := os.OpenFile(filepath.Join(n.dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	n.daemon.Stdout, n.daemon.Stderr = logf, logf
	if err := n.daemon.Start(); err != nil {
		t.Fatal(err)
	}
	if msg := n.readNotify(); !strings.Contains(msg, "READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	conn, err := grpc.NewClient("unix://"+n.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	n.rt, n.closeRT = runtimeapi.NewRuntimeServiceClient(conn), func() { conn.Close() }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := n.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "crishim" {
		t.Fatalf("Version right after READY=1: %v, %v\n%s", v, err, n.log())
	}
}

func (n *node) readNotify() string {
	n.notify.SetReadDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, 4096)
	k, err := n.notify.Read(buf)
	if err != nil {
		n.t.Fatalf("no notification from the daemon: %v\n%s", err, n.log())
	}
	return string(buf[:k])
}

func (n *node) log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "daemon.log"))
	return string(b)
}

// stop sends SIGTERM as systemd does and expects STOPPING=1 and a clean exit.
func (n *node) stop() {
	n.closeRT()
	n.daemon.Process.Signal(syscall.SIGTERM)
	if msg := n.readNotify(); msg != "STOPPING=1" {
		n.t.Errorf("notification at SIGTERM %q, want STOPPING=1", msg)
	}
	if err := n.daemon.Wait(); err != nil {
		n.t.Errorf("daemon exit: %v\n%s", err, n.log())
	}
	n.daemon = nil
	n.notify.Close()
}

// mounts lists mount points under the test dir.
func (n *node) mounts() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], n.dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

func (n *node) cgroups() []string {
	var out []string
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + n.cgroup)
	if _, err := os.Stat("/sys/fs/cgroup" + n.cgroup); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup"+n.cgroup)
	}
	for _, d := range dirs {
		out = append(out, d)
	}
	return out
}

// cleanup undoes what a failed test left: the daemon, mounts, cgroups.
func (n *node) cleanup() {
	if n.daemon != nil {
		n.daemon.Process.Kill()
		n.daemon.Wait()
	}
	for _, m := range n.mounts() {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	for _, c := range n.cgroups() {
		exec.Command("find", c, "-depth", "-type", "d", "-exec", "rmdir", "{}", "+").Run()
	}
}

func (n *node) runPod() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "installed", Uid: "installed-uid", Namespace: "install-test"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}},
	}
	resp, err := n.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		n.t.Fatalf("RunPodSandbox: %v\n%s", err, n.log())
	}
	return resp.PodSandboxId
}

func (n *node) removePod(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		n.t.Fatal(err)
	}
	if _, err := n.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		n.t.Fatal(err)
	}
}

// TestInstalledDaemon: the daemon as the installed unit starts it, a pod that survives
// uninstall, PURGE=1 refusing while the pod exists, then removing everything.
func TestInstalledDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the daemon and a pod")
	}
	n := newNode(t)
	n.start()
	// The daemon runs the preflight checks at start: one line per check (OK ones at debug).
	for _, check := range []string{"overlayfs", `"cgroup mode"`, `"root_dir filesystem"`} {
		if !strings.Contains(n.log(), "check="+check) {
			t.Errorf("the daemon log has no preflight line for %s:\n%s", check, n.log())
		}
	}
	pod := n.runPod()
	n.stop()
	held := n.mounts()
	if len(held) == 0 {
		t.Fatal("the pod holds no mount under the test dir: the PURGE refusal below would prove nothing")
	}

	// Plain uninstall: the pod stays; a reinstall finds the edited config.
	n.l.mustRun(t, "uninstall")
	if _, err := os.Stat(n.l.bin("shim")); err == nil {
		t.Error("uninstall left the shim binary")
	}
	if got := n.mounts(); len(got) != len(held) {
		t.Errorf("uninstall without PURGE touched the pod: mounts %v → %v", held, got)
	}
	if out := n.l.mustRun(t, "install"); !strings.Contains(out, "kept the existing") {
		t.Errorf("reinstall:\n%s", out)
	}

	// PURGE=1 with the pod still there (daemon stopped): refused, nothing removed.
	out, err := n.l.run(t, "uninstall", "PURGE=1")
	if err == nil || !strings.Contains(out, "pods still hold mounts") {
		t.Fatalf("PURGE=1 with a live pod: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "root")); err != nil {
		t.Errorf("a refused PURGE removed root_dir: %v", err)
	}
	if _, err := os.Stat(n.l.bin("shim")); err != nil {
		t.Errorf("a refused PURGE removed the binary: %v", err)
	}

	// The daemon comes back with the pod; once it is removed, PURGE=1 clears everything.
	n.start()
	n.removePod(pod)
	n.stop()
	n.l.mustRun(t, "uninstall", "PURGE=1")
	var left []string
	for _, f := range files(t, n.dir) {
		if f != "daemon.log" && f != "notify.sock" {
			left = append(left, f)
		}
	}
	if len(left) > 0 {
		t.Errorf("PURGE=1 left %v", left)
	}
	if m := n.mounts(); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if c := n.cgroups(); len(c) > 0 {
		t.Errorf("cgroups left: %v", c)
	}
}
