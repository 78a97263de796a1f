package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/test/e2e/images"
)

// busyboxRef is the fixture busybox, pulled through the registry mirror.
const busyboxRef = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

// daemonEnv is one shim daemon of a daemon-level test: its own dirs, socket, cgroup parent, CNI
// bridge and subnet, a CRI client, and a cleanup that removes what is left through the CRI,
// stops the daemon, fails the test on a leak or a panic in the daemon's log, and cleans up.
type daemonEnv struct {
	t        *testing.T
	shim     string
	dir      string
	cfg      ShimConfig
	logPath  string
	sfx      string
	d        *Daemon
	previous []*Daemon // daemons killed or stopped by the test: their cgroups hold the monitors
	conn     *grpc.ClientConn
	rt       runtimeapi.RuntimeServiceClient
	img      runtimeapi.ImageServiceClient
	before   HostSnapshot
}

// daemonTestPrereqs skips unless root, and returns the shim binary (SHIM_BIN or a fresh
// build) and the fixture registry's URL.
func daemonTestPrereqs(t *testing.T) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon creates pods and containers")
	}
	shim, err := shimBinary()
	if err != nil {
		t.Fatal(err)
	}
	url, err := fixtureRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return shim, url
}

var (
	shimOnce    sync.Once
	shimPath    string
	shimErr     error
	registryOne sync.Once
	registryURL string
	registryErr error
)

// shimBinary returns SHIM_BIN, or builds ./cmd/shim into _output once per test binary.
func shimBinary() (string, error) {
	shimOnce.Do(func() {
		if p := os.Getenv(envShimBin); p != "" {
			shimPath, shimErr = filepath.Abs(p)
			return
		}
		root, err := images.RepoRoot()
		if err != nil {
			shimErr = err
			return
		}
		shimPath = filepath.Join(root, "_output", "shim")
		var out strings.Builder
		if err := BuildShim(context.Background(), root, shimPath, &out); err != nil {
			shimErr = fmt.Errorf("%w\n%s", err, out.String())
		}
	})
	return shimPath, shimErr
}

// fixtureRegistry builds the fixture images and serves them once per test binary; the
// registry lives until the binary exits.
func fixtureRegistry() (string, error) {
	registryOne.Do(func() {
		root, err := images.RepoRoot()
		if err != nil {
			registryErr = err
			return
		}
		var out strings.Builder
		in, err := images.Prepare(context.Background(), root, filepath.Join(root, "_output"), &out)
		if err != nil {
			registryErr = fmt.Errorf("%w\n%s", err, out.String())
			return
		}
		repos, err := images.Catalog(in)
		if err != nil {
			registryErr = err
			return
		}
		reg, err := images.Serve(context.Background(), "127.0.0.1:0", repos, nil)
		if err != nil {
			registryErr = err
			return
		}
		registryURL = reg.URL()
	})
	return registryURL, registryErr
}

// newDaemonEnv starts a shim daemon with a configuration of its own and registers its cleanup.
func newDaemonEnv(t *testing.T) *daemonEnv {
	t.Helper()
	return newDaemonEnvWith(t, nil)
}

// newDaemonEnvWith is newDaemonEnv with a configuration changed by edit (when not nil).
func newDaemonEnvWith(t *testing.T, edit func(*ShimConfig)) *daemonEnv {
	t.Helper()
	shim, mirror := daemonTestPrereqs(t)
	dir := t.TempDir()
	// Traversable by the mapped root of user-namespaced containers, like the harness does.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	known, err := DaemonKeys(shim)
	if err != nil {
		t.Fatal(err)
	}
	sfx := RandomSuffix(3)
	e := &daemonEnv{
		t: t, shim: shim, dir: dir, sfx: sfx, logPath: filepath.Join(dir, "shim.log"),
		cfg: ShimConfig{
			RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "state"),
			Socket: filepath.Join(dir, "state", "crishim.sock"), LogLevel: "debug",
			MirrorURL: mirror, CgroupParent: "/crishim-e2e-" + sfx,
			CNIConfDir: filepath.Join(dir, "cni"), CNIBridge: "e2e" + sfx, CNISubnet: randomSubnet(sfx),
			Known: known,
		},
		before: TakeSnapshot(),
	}
	if edit != nil {
		edit(&e.cfg)
	}
	t.Cleanup(e.cleanup)
	e.start()
	return e
}

// start starts the daemon (again) on the env's dirs and connects a CRI client.
func (e *daemonEnv) start() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := StartShim(ctx, e.shim, e.dir, e.logPath, e.cfg)
	if err != nil {
		e.t.Fatalf("start the shim daemon: %v", err)
	}
	e.d = d
	conn, err := grpc.NewClient("unix://"+e.cfg.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.conn = conn
	e.rt = runtimeapi.NewRuntimeServiceClient(conn)
	e.img = runtimeapi.NewImageServiceClient(conn)
}

// kill kills the daemon with SIGKILL; its children (monitors, containers) live on.
func (e *daemonEnv) kill() {
	e.d.Kill() // first: requests in flight die with the daemon, not by a closed connection
	e.closeConn()
	e.previous = append(e.previous, e.d)
	e.d = nil
}

// stop stops the daemon with SIGTERM and checks that it exited cleanly.
func (e *daemonEnv) stop() {
	e.t.Helper()
	e.closeConn()
	if err := e.d.Stop(20 * time.Second); err != nil {
		e.t.Errorf("stop the daemon: %v", err)
	}
	e.previous = append(e.previous, e.d)
	e.d = nil
}

func (e *daemonEnv) closeConn() {
	if e.conn != nil {
		_ = e.conn.Close()
		e.conn = nil
	}
}

// ctx returns a context for one CRI call.
func (e *daemonEnv) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// cleanup removes the pods left (a failed test), stops the daemon, checks for leaks and
// panics, and removes what leaked.
func (e *daemonEnv) cleanup() {
	t := e.t
	if e.d != nil && !e.d.Exited() {
		if n := e.removeAllPods(); n > 0 && !t.Failed() {
			t.Errorf("the test left %d pods behind", n)
		}
		e.stop()
	}
	if data, err := os.ReadFile(e.logPath); err == nil && strings.Contains(strings.ToLower(string(data)), "panic") {
		t.Errorf("the daemon's log mentions a panic:\n%s", grepLines(string(data), "panic", 10))
	}
	if t.Failed() {
		t.Logf("end of %s:\n%s", e.logPath, LogTail(e.logPath, 40))
		e.keepLog()
	}
	scope := LeakScope{
		Dirs: []string{e.dir}, CgroupParent: e.cfg.CgroupParent,
		Executables: e.executables(), Before: e.before,
	}
	leaks := FindLeaks(scope)
	for _, d := range e.previous {
		if d.Cgroup != "" {
			leaks = append(leaks, processLeaks(LeakScope{DaemonCgroup: d.Cgroup})...)
		}
	}
	var found []string
	for _, l := range leaks {
		if l.Attributed {
			found = append(found, l.String())
		}
	}
	if len(found) > 0 {
		t.Errorf("leak check: the daemon left behind:\n  %s", strings.Join(found, "\n  "))
	}
	if err := CleanLeaks(leaks); err != nil {
		t.Errorf("leak cleanup: %v", err)
	}
	for _, dir := range cgroupDirs(e.cfg.CgroupParent) {
		if err := RemoveCgroup(dir); err != nil {
			t.Errorf("remove cgroup parent: %v", err)
		}
	}
	for _, d := range e.previous {
		d.RemoveCgroup()
	}
	if err := DeleteLink(e.cfg.CNIBridge); err != nil {
		t.Errorf("delete bridge %s: %v", e.cfg.CNIBridge, err)
	}
}

// keepLog copies the daemon's log to _output/e2e/<test>.shim.log: the test's dir goes away.
func (e *daemonEnv) keepLog() {
	root, err := images.RepoRoot()
	if err != nil {
		return
	}
	dir := filepath.Join(root, "_output", "e2e")
	data, err := os.ReadFile(e.logPath)
	if err != nil || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	dst := filepath.Join(dir, strings.ReplaceAll(e.t.Name(), "/", "_")+".shim.log")
	if os.WriteFile(dst, data, 0o644) == nil {
		e.t.Logf("daemon log kept in %s", dst)
	}
}

// executables are the files whose processes belong to the daemon: the shim (daemon, monitors,
// pod helpers) and the separate monitor binary when there is one.
func (e *daemonEnv) executables() []string {
	exes := []string{e.shim}
	if m := filepath.Join(filepath.Dir(e.shim), "crishim-monitor"); fileExists(m) {
		exes = append(exes, m)
	}
	return exes
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// removeAllPods stops and removes every pod the daemon lists; it returns how many there were.
func (e *daemonEnv) removeAllPods() int {
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		e.t.Logf("cleanup: list pods: %v", err)
		return 0
	}
	for _, p := range resp.Items {
		if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			e.t.Logf("cleanup: stop pod %s: %v", p.Id, err)
		}
		if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			e.t.Logf("cleanup: remove pod %s: %v", p.Id, err)
		}
	}
	return len(resp.Items)
}

func grepLines(text, word string, max int) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(strings.ToLower(l), word) && len(out) < max {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
