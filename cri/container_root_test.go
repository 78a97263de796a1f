package cri

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// dirRootfs hands every container a bind mount of one prepared directory.
type dirRootfs struct{ dir string }

func (d dirRootfs) PrepareRootfs(ctx context.Context, key, imageID string) (runtime.Mount, error) {
	return runtime.Mount{Type: "bind", Source: d.dir, Options: []string{"rbind"}}, nil
}

func (d dirRootfs) RemoveRootfs(ctx context.Context, key string) error { return nil }

// busyboxRootfs builds a minimal root filesystem from the host's static busybox.
func busyboxRootfs(t *testing.T, dir string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("needs a static /bin/busybox")
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "cat", "sleep", "id", "true", "ps", "touch", "pwd", "tr", "grep"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
}

// rootEnv is a real sandbox and runtime manager behind a CRI server, with one ready pod.
type rootEnv struct {
	rc        runtimeapi.RuntimeServiceClient
	srv       *Server
	pod       sandbox.Sandbox
	dir, logs string
}

// newRootEnv starts the env; mut, if given, adjusts the pod's config.
func newRootEnv(t *testing.T, mut ...func(*sandbox.PodConfig)) rootEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	rootfs, logs := filepath.Join(dir, "rootfs"), filepath.Join(dir, "logs")
	busyboxRootfs(t, rootfs)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rcfg := runtime.DefaultConfig()
	rcfg.CgroupParent = fmt.Sprintf("/crishim-cri-test-%d-%s", os.Getpid(), t.Name())
	rtm, err := runtime.New(rcfg, filepath.Join(dir, "rr"), filepath.Join(dir, "rs"), dirRootfs{rootfs}, log)
	if err != nil {
		t.Fatal(err)
	}
	sbm, err := sandbox.New(sandbox.DefaultConfig(), filepath.Join(dir, "sr"), filepath.Join(dir, "ss"), rcfg.CgroupParent, nil, rtm, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pc := sandbox.PodConfig{Name: "p", Namespace: "ns", UID: "u1", Hostname: "p", LogDirectory: logs}
	for _, f := range mut {
		f(&pc)
	}
	pod, err := sbm.Run(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sbm.Stop(ctx, pod.ID)
		if err := sbm.Remove(ctx, pod.ID); err != nil {
			t.Errorf("remove pod: %v", err)
		}
		ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
		for _, m := range ms {
			t.Errorf("mount left: %s", m.Mountpoint)
		}
		removeTestCgroup(t, rcfg.CgroupParent)
	})
	imgs := fakeImages{"busybox": {ID: busyboxID, RepoTags: []string{"busybox:latest"}}}
	srv := NewServer(Options{Containers: rtm, Sandboxes: sbm, ImageResolver: imgs})
	rc, _ := dialServer(t, srv)
	return rootEnv{rc: rc, srv: srv, pod: pod, dir: dir, logs: logs}
}

// TestContainerLifecycleRoot runs a real pod and container through the CRI handlers:
// create, start, log, ExecSync (and its timeout), stop, status, remove, nothing left.
func TestContainerLifecycleRoot(t *testing.T) {
	e := newRootEnv(t)
	rc, pod, logs, ctx := e.rc, e.pod, e.logs, context.Background()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sh", "-c", "echo hello; exec sleep 1000"},
		LogPath:  "c.log",
	}
	resp, err := rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.ID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	out, err := rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "echo hi; id -u; exit 3"}, Timeout: 10})
	if err != nil || string(out.Stdout) != "hi\n0\n" || out.ExitCode != 3 {
		t.Errorf("ExecSync = %q %q %d, %v", out.GetStdout(), out.GetStderr(), out.GetExitCode(), err)
	}
	_, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sleep", "30"}, Timeout: 1})
	wantCode(t, "ExecSync timeout", err, codes.DeadlineExceeded, "")
	out, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "ps | grep -c '[s]leep 30' || true"}, Timeout: 10})
	if err != nil || strings.TrimSpace(string(out.GetStdout())) != "0" {
		t.Errorf("timed-out exec still running: %q, %v", out.GetStdout(), err)
	}
	if _, err := rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 2}); err != nil {
		t.Fatal(err)
	}
	st, err := rc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Status; s.State != runtimeapi.ContainerState_CONTAINER_EXITED || s.ExitCode == 0 || s.FinishedAt == 0 ||
		s.LogPath != filepath.Join(logs, "c.log") || s.Reason == "" {
		t.Errorf("status after stop = %v", s)
	}
	if b, _ := os.ReadFile(filepath.Join(logs, "c.log")); !strings.Contains(string(b), " stdout F hello\n") {
		t.Errorf("log = %q", b)
	}
	if _, err := rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if l, err := rc.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err != nil || len(l.Containers) != 0 {
		t.Errorf("containers left: %v, %v", l, err)
	}
}

// removeTestCgroup removes the test's parent cgroup from every hierarchy; it fails when a
// pod or container cgroup is still below it.
func removeTestCgroup(t *testing.T, parent string) {
	// v1: one dir per controller hierarchy (and the hybrid unified one); v2: one dir.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	for _, d := range []string{"/sys/fs/cgroup/unified" + parent, "/sys/fs/cgroup" + parent} {
		if dirExists(d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			t.Errorf("cgroup left: %v", err)
		}
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
