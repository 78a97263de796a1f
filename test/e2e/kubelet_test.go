package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/test/e2e/images"
)

const (
	envKubeletBin = "KUBELET_BIN" // kubelet binary to use instead of hack/build-kubelet.sh's
	// podLogsDir and containerLogsDir are where a kubelet writes container logs and links.
	podLogsDir       = "/var/log/pods"
	containerLogsDir = "/var/log/containers"
)

// kubeletAllowedErrors are the kubelet error lines that say nothing wrong about the runtime,
// each with the reason. Every other error line of the kubelet's log fails the test.
var kubeletAllowedErrors = []AllowedError{
	{Pattern: regexp.MustCompile(`"Failed to set rlimit on max file handles" err="operation not permitted"`),
		Why: "the kubelet raises its own RLIMIT_NOFILE; root on these machines lacks CAP_SYS_RESOURCE"},
	{Pattern: regexp.MustCompile(`"Failed to ensure process in container with oom score" err="failed to find pid namespace of init process"`),
		Why: "about the kubelet's own process: /proc/1/ns/pid is not readable on these machines (PID 1 is not ours)"},
	{Pattern: regexp.MustCompile(`"Failed to read data from checkpoint" err="checkpoint is not found" checkpoint="kubelet_internal_checkpoint"`),
		Why: "the device manager's checkpoint: a kubelet's first start has none"},
	{Pattern: regexp.MustCompile(`"eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime"`),
		Why: "cadvisor knows an image filesystem label for CRI-O only: every other runtime (containerd too) gets this"},
	{Pattern: regexp.MustCompile(`"Skipping pod synchronization" err="\[?(container runtime status check may not have completed yet, )?PLEG is not healthy: pleg has yet to be successful\]?"`),
		Why: "logged at start, before the kubelet's first relist of the runtime's pods (and, on a busy machine, before its first runtime status check)"},
	{Pattern: regexp.MustCompile(`"Error syncing pod, skipping" err="failed to \\"StartContainer\\" for \\"crash\\" with CrashLoopBackOff`),
		Why: "the back-off of the test's crash-looping container"},
	{Pattern: regexp.MustCompile(`"ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"([0-9a-f]+)\\": not found"`),
		AfterRemove: true,
		Why:         "the kubelet removes an exited container of a deleted pod twice (PLEG event and pod container deletor); the second ContainerStatus gets NotFound, as on containerd"},
}

var (
	kubeletOnce sync.Once
	kubeletPath string
	kubeletErr  error
)

// kubeletBinary returns KUBELET_BIN, or the pinned kubelet built (once, cached in _output) by
// hack/build-kubelet.sh.
func kubeletBinary() (string, error) {
	kubeletOnce.Do(func() {
		if p := os.Getenv(envKubeletBin); p != "" {
			kubeletPath, kubeletErr = filepath.Abs(p)
			return
		}
		root, err := images.RepoRoot()
		if err != nil {
			kubeletErr = err
			return
		}
		var out strings.Builder
		if kubeletPath, err = BuildKubelet(context.Background(), root, &out); err != nil {
			kubeletErr = fmt.Errorf("%w\n%s", err, out.String())
		}
	})
	return kubeletPath, kubeletErr
}

// kubeletEnv is a standalone kubelet (no API server: static pods only) on a daemonEnv's shim.
type kubeletEnv struct {
	t        *testing.T
	e        *daemonEnv
	ns, node string // the pods' namespace and the kubelet's node name (pod name suffix)
	dir      string // the kubelet's root dir
	manifest string // its static pod dir
	logPath  string
	d        *Daemon
	kc       *KubeletClient
	podCIDR  string // the node's pod CIDR in the kubelet's configuration
}

// newKubeletEnv starts a shim daemon and a kubelet on it, and registers the cleanup of what
// both leave on the host.
func newKubeletEnv(t *testing.T) *kubeletEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the kubelet and the daemon create pods")
	}
	bin, err := kubeletBinary()
	if err != nil {
		t.Fatal(err)
	}
	sfx := RandomSuffix(3)
	k := &kubeletEnv{t: t, ns: "crishim-e2e-" + sfx, node: "crishim-e2e-" + sfx}
	cgroupRoot := "/crishim-e2e-kubelet-" + sfx
	// Registered before the daemon's cleanup, so run after it: the daemon's pods are gone by
	// then and the kubelet's cgroups can be removed.
	sysctls, chains, missing := SaveSysctls(), IptablesChains(), MissingPaths()
	t.Cleanup(func() { k.cleanupHost(cgroupRoot, sysctls, chains, missing) })
	if err := CreateCgroupRoot(cgroupRoot); err != nil {
		t.Fatalf("create the kubelet's cgroup root: %v", err)
	}
	k.e = newDaemonEnv(t)
	k.dir = filepath.Join(k.e.dir, "kubelet")
	k.manifest = filepath.Join(k.dir, "manifests")
	k.logPath = filepath.Join(k.e.dir, "kubelet.log")
	if err := os.MkdirAll(k.manifest, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	// A pod CIDR other than the daemon's configured subnet (10.200-249.x.0/24): pods must get
	// their addresses from what the kubelet sent.
	var b int
	_, _ = fmt.Sscanf(sfx[2:4], "%02x", &b)
	k.podCIDR = fmt.Sprintf("10.251.%d.0/24", b)
	cfg := KubeletConfig{RootDir: k.dir, StaticPodPath: k.manifest, Endpoint: k.e.cfg.Socket, Port: port,
		CgroupRoot: cgroupRoot, PodCIDR: k.podCIDR}
	cfgPath, err := cfg.Write()
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{bin, "--config=" + cfgPath, "--root-dir=" + k.dir, "--cert-dir=" + filepath.Join(k.dir, "pki"),
		"--hostname-override=" + k.node, "--v=2"}
	k.d, err = StartDaemon("kubelet", argv, k.logPath, "crishim-e2e-kubeletd-"+sfx) // its process; not cgroupRoot
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.stop)
	k.kc = NewKubeletClient(port)
	k.waitHealthy(2 * time.Minute)
	return k
}

// freePort returns a TCP port free on 127.0.0.1 now (from the ephemeral range, far from the
// ports critest binds).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (k *kubeletEnv) waitHealthy(timeout time.Duration) {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := k.kc.Do(ctx, "GET", "/healthz")
		cancel()
		if err == nil {
			return
		}
		if k.d.Exited() || time.Now().After(deadline) {
			k.t.Fatalf("kubelet not healthy (%v); end of its log:\n%s", err, LogTail(k.logPath, 60))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop stops the kubelet (pods stay; the daemon's cleanup removes them) and keeps its log when
// the test failed.
func (k *kubeletEnv) stop() {
	if k.d != nil && !k.d.Exited() {
		if err := k.d.Stop(30 * time.Second); err != nil {
			k.t.Logf("stop the kubelet: %v", err) // its exit status on SIGTERM is not ours to judge
		}
	}
	if k.d != nil {
		k.d.RemoveCgroup()
		// The kubelet bind-mounts its root dir on itself (to make it rshared) and leaves it.
		if mounted, _ := mountinfo.Mounted(k.dir); mounted {
			if err := unix.Unmount(k.dir, 0); err != nil {
				k.t.Errorf("unmount the kubelet's root dir: %v", err)
			}
		}
	}
	if k.t.Failed() {
		if root, err := images.RepoRoot(); err == nil {
			dst := filepath.Join(root, "_output", "e2e", strings.ReplaceAll(k.t.Name(), "/", "_")+".kubelet.log")
			if data, err := os.ReadFile(k.logPath); err == nil && os.MkdirAll(filepath.Dir(dst), 0o755) == nil && os.WriteFile(dst, data, 0o644) == nil {
				k.t.Logf("kubelet log kept in %s", dst)
			}
		}
	}
}

// cleanupHost puts back the kernel tunables, removes the iptables chains, cgroups, log files
// and fixed paths (those missing before it started) the kubelet created; what cannot be removed (a cgroup with a process) fails the test.
func (k *kubeletEnv) cleanupHost(cgroupRoot string, sysctls map[string]string, chains map[string]bool, missing []string) {
	t := k.t
	if err := RestoreSysctls(sysctls); err != nil {
		t.Errorf("kubelet cleanup: %v", err)
	}
	removed, err := RemoveNewKubeChains(chains)
	if err != nil {
		t.Errorf("kubelet cleanup: %v", err)
	}
	if len(removed) > 0 {
		t.Logf("removed the iptables chains the kubelet created: %s", strings.Join(removed, ", "))
	}
	// The kubelet's own cgroups (kubepods/, its QoS classes) are expected; a pod's is a leak
	// once the kubelet and the daemon have removed every pod.
	for _, l := range cgroupLeaks(cgroupRoot) {
		if strings.HasPrefix(filepath.Base(l.path), "pod") && !t.Failed() {
			t.Errorf("kubelet cleanup: pod cgroup left: %s", l.path)
		}
	}
	if err := RemoveCgroupRoot(cgroupRoot); err != nil {
		t.Errorf("kubelet cleanup: cgroups under %s: %v", cgroupRoot, err)
	}
	if _, err := RemovePodLogs(podLogsDir, containerLogsDir, k.ns); err != nil {
		t.Errorf("kubelet cleanup: pod logs: %v", err)
	}
	if err := RemovePaths(missing); err != nil {
		t.Errorf("kubelet cleanup: %v", err)
	}
}

// pod returns the kubelet's view of static pod name ("" phase when it does not list it).
func (k *kubeletEnv) pod(name string) (KubePod, bool) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := k.kc.Pods(ctx)
	if err != nil {
		k.t.Fatalf("kubelet pods: %v", err)
	}
	for _, p := range pods {
		if p.Metadata.Namespace == k.ns && p.Metadata.Name == name+"-"+k.node {
			return p, true
		}
	}
	return KubePod{}, false
}

// waitPod polls the kubelet's view of pod name until done accepts it. A container the kubelet
// cannot create or start fails at once with the runtime's message.
func (k *kubeletEnv) waitPod(name, what string, timeout time.Duration, done func(KubePod) bool) KubePod {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, ok := k.pod(name)
		if ok && done(p) {
			return p
		}
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && (w.Reason == "CreateContainerError" || w.Reason == "RunContainerError" ||
				w.Reason == "CreateContainerConfigError" || w.Reason == "ErrImagePull") {
				k.t.Fatalf("pod %s: container %s: %s: %s", name, c.Name, w.Reason, w.Message)
			}
		}
		if k.d.Exited() {
			k.t.Fatalf("the kubelet exited; end of its log:\n%s", LogTail(k.logPath, 60))
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("pod %s: not %s after %v: %+v", name, what, timeout, p.Status)
		}
		time.Sleep(time.Second)
	}
}

// sandboxes returns the daemon's pod sandboxes of the kubelet's namespace.
func (k *kubeletEnv) sandboxes() []*runtimeapi.PodSandbox {
	k.t.Helper()
	ctx, cancel := k.e.ctx()
	defer cancel()
	resp, err := k.e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.namespace": k.ns},
	}})
	if err != nil {
		k.t.Fatalf("list pod sandboxes: %v", err)
	}
	return resp.Items
}
