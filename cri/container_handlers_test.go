package cri

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// containerServer serves the container handlers over fakes: pod1 is ready, pod2 not.
func containerServer(t *testing.T) (runtimeapi.RuntimeServiceClient, *fakeRuntime) {
	t.Helper()
	rt := newFakeRuntime()
	notReady := testPod()
	notReady.ID, notReady.State = "pod2", sandbox.StateNotReady
	srv := NewServer(Options{Containers: rt, PodLookup: fakeSandboxes{"pod1": testPod(), "pod2": notReady}, ImageResolver: testImages()})
	rc, _ := dialServer(t, srv)
	return rc, rt
}

func createReq(pod, name string) *runtimeapi.CreateContainerRequest {
	cfg := baseConfig()
	cfg.Metadata.Name = name
	return &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: cfg}
}

func wantCode(t *testing.T, what string, err error, code codes.Code, msgPart string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: code %v (%v), want %v", what, status.Code(err), err, code)
		return
	}
	if msgPart != "" && !strings.Contains(status.Convert(err).Message(), msgPart) {
		t.Errorf("%s: message %q does not name %q", what, status.Convert(err).Message(), msgPart)
	}
}

func TestCreateContainerErrors(t *testing.T) {
	rc, rt := containerServer(t)
	ctx := context.Background()
	noImage := createReq("pod1", "c")
	noImage.Config.Image = nil
	noMeta := createReq("pod1", "c")
	noMeta.Config.Metadata = nil
	badSeccomp := createReq("pod1", "c")
	badSeccomp.Config.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "bogus"}}
	badNS := createReq("pod1", "c")
	badNS.Config.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE}}}
	bigMeta := createReq("pod1", "c")
	bigMeta.Config.Labels = map[string]string{"l": strings.Repeat("x", 200<<10)}
	bigMeta.Config.Annotations = map[string]string{"a": strings.Repeat("y", 57<<10)}
	missingImage := createReq("pod1", "c")
	missingImage.Config.Image.Image = "nope:latest"
	cases := []struct {
		what string
		req  *runtimeapi.CreateContainerRequest
		code codes.Code
		msg  string
	}{
		{"no pod id", createReq("", "c"), codes.InvalidArgument, "pod_sandbox_id"},
		{"no config", &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1"}, codes.InvalidArgument, "config"},
		{"no metadata", noMeta, codes.InvalidArgument, "config.metadata"},
		{"no name", createReq("pod1", ""), codes.InvalidArgument, "config.metadata.name"},
		{"no image", noImage, codes.InvalidArgument, "config.image.image"},
		{"name with slash", createReq("pod1", "a/b"), codes.InvalidArgument, "config.metadata.name"},
		{"name with newline", createReq("pod1", "a\nb"), codes.InvalidArgument, "config.metadata.name"},
		{"name too long", createReq("pod1", strings.Repeat("x", 254)), codes.InvalidArgument, "config.metadata.name"},
		{"name dot", createReq("pod1", "."), codes.InvalidArgument, "config.metadata.name"},
		{"name dotdot", createReq("pod1", ".."), codes.InvalidArgument, "config.metadata.name"},
		{"labels and annotations over 256 KiB", bigMeta, codes.InvalidArgument, "labels and annotations"},
		{"unknown pod", createReq("podX", "c"), codes.NotFound, "podX"},
		{"pod not ready", createReq("pod2", "c"), codes.FailedPrecondition, "pod2"},
		{"unknown image", missingImage, codes.NotFound, `image "nope:latest" not found`},
		{"unknown seccomp profile", badSeccomp, codes.InvalidArgument, "seccomp_profile_path"},
		{"conflicting pid namespace", badNS, codes.InvalidArgument, "namespace_options.pid"},
	}
	for _, c := range cases {
		_, err := rc.CreateContainer(ctx, c.req)
		wantCode(t, c.what, err, c.code, c.msg)
	}
	if len(rt.List()) != 0 || rt.creates != 0 {
		t.Errorf("bad requests reached the runtime: %d creates", rt.creates)
	}
}

func TestContainerLifecycle(t *testing.T) {
	rc, rt := containerServer(t)
	ctx := context.Background()
	resp, err := rc.CreateContainer(ctx, createReq("pod1", "c"))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	if spec := rt.specs[id]; spec.Pod.PIDNSPath != "/proc/77/ns/pid" || spec.Image.ID != busyboxID {
		t.Errorf("runtime got spec %+v", spec)
	}
	_, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}})
	wantCode(t, "exec in created container", err, codes.FailedPrecondition, id)
	if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id[:12]}); err != nil {
		t.Fatalf("start by prefix: %v", err)
	}
	st, err := rc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	s := st.Status
	if s.State != runtimeapi.ContainerState_CONTAINER_RUNNING || s.StartedAt != time.Unix(2000, 0).UnixNano() ||
		s.ImageRef != "busybox@sha256:abcd" || s.ImageId != busyboxID || s.Image.Image != "busybox:1.36" ||
		s.Metadata.Name != "c" || s.Metadata.Attempt != 2 || s.User.GetLinux() == nil {
		t.Errorf("status = %v", s)
	}
	if !strings.Contains(st.Info["info"], `"pid":4242`) {
		t.Errorf("verbose info = %q", st.Info["info"])
	}
	if _, err := rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 7}); err != nil || rt.stopped[id] != 7*time.Second {
		t.Errorf("stop: %v, timeout %v", err, rt.stopped[id])
	}
	if _, err := rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = rc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	wantCode(t, "status of removed", err, codes.NotFound, id)
	_, err = rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	wantCode(t, "start of removed", err, codes.NotFound, id)
	// Idempotence: stop and remove of unknown ids succeed.
	if _, err := rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("stop unknown: %v", err)
	}
	if _, err := rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("remove unknown: %v", err)
	}
	// The slot is free again after remove: the same request creates a new container.
	resp2, err := rc.CreateContainer(ctx, createReq("pod1", "c"))
	if err != nil || resp2.ContainerId == id {
		t.Errorf("recreate after remove: %v, %v", resp2, err)
	}
}

func TestExitedStatusReason(t *testing.T) {
	st := runtime.Status{ID: "x", State: runtime.StateExited, ExitCode: 3, FinishedAt: time.Unix(5, 0)}
	cs := containerStatusToCRI(st, "")
	if cs.Reason != runtime.ReasonError || cs.ExitCode != 3 || cs.FinishedAt != 5e9 || cs.StartedAt != 0 {
		t.Errorf("exited status = %v", cs)
	}
	st.ExitCode, st.Reason = 137, runtime.ReasonOOMKilled
	if cs := containerStatusToCRI(st, ""); cs.Reason != runtime.ReasonOOMKilled {
		t.Errorf("reason = %q", cs.Reason)
	}
}

func TestExecSync(t *testing.T) {
	rc, rt := containerServer(t)
	ctx := context.Background()
	resp, err := rc.CreateContainer(ctx, createReq("pod1", "c"))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	rt.set(id, func(s *runtime.Status) { s.State = runtime.StateRunning })
	rt.execOut, rt.execCode = "hello\n", 3
	out, err := rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"echo", "hello"}, Timeout: 2})
	if err != nil || string(out.Stdout) != "hello\n" || out.ExitCode != 3 {
		t.Fatalf("ExecSync = %v, %v", out, err)
	}
	if strings.Join(rt.execArgs, " ") != "2s echo hello" {
		t.Errorf("runtime got %q", rt.execArgs)
	}
	_, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id})
	wantCode(t, "empty cmd", err, codes.InvalidArgument, "cmd")
	_, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "nope", Cmd: []string{"true"}})
	wantCode(t, "unknown container", err, codes.NotFound, "nope")
	rt.execErr = fmt.Errorf("timed out after 1s: %w", errdefs.ErrDeadlineExceeded)
	_, err = rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sleep", "9"}, Timeout: 1})
	wantCode(t, "timeout", err, codes.DeadlineExceeded, "")
}

func TestListAndStreamFilters(t *testing.T) {
	rc, rt := containerServer(t)
	ctx := context.Background()
	var ids []string
	for i, name := range []string{"a", "b", "c"} {
		req := createReq("pod1", name)
		req.Config.Labels = map[string]string{"app": "x", "n": name}
		if i == 2 {
			req.Config.Labels["app"] = "y"
		}
		resp, err := rc.CreateContainer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.ContainerId)
	}
	rt.set(ids[1], func(s *runtime.Status) { s.State = runtime.StateRunning })
	rt.set(ids[2], func(s *runtime.Status) { s.PodID = "pod3" })
	running := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}
	cases := []struct {
		name   string
		filter *runtimeapi.ContainerFilter
		want   []string
	}{
		{"all, newest first", nil, []string{ids[2], ids[1], ids[0]}},
		{"id prefix", &runtimeapi.ContainerFilter{Id: ids[1][:60]}, []string{ids[1]}},
		{"full id", &runtimeapi.ContainerFilter{Id: ids[0]}, []string{ids[0]}},
		{"state", &runtimeapi.ContainerFilter{State: running}, []string{ids[1]}},
		{"pod", &runtimeapi.ContainerFilter{PodSandboxId: "pod1"}, []string{ids[1], ids[0]}},
		{"labels", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"app": "x"}}, []string{ids[1], ids[0]}},
		{"labels all must match", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"app": "x", "n": "a"}}, []string{ids[0]}},
		{"missing label", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"zzz": ""}}, nil},
		{"unknown id", &runtimeapi.ContainerFilter{Id: "ffff"}, nil},
	}
	for _, c := range cases {
		resp, err := rc.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: c.filter})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ct := range resp.Containers {
			got = append(got, ct.Id)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		if streamed := streamIDs(t, rc, c.filter); strings.Join(streamed, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: stream got %v, want %v", c.name, streamed, c.want)
		}
	}
}

func streamIDs(t *testing.T, rc runtimeapi.RuntimeServiceClient, f *runtimeapi.ContainerFilter) []string {
	t.Helper()
	s, err := rc.StreamContainers(context.Background(), &runtimeapi.StreamContainersRequest{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		resp, err := s.Recv()
		if err == io.EOF {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Containers) == 0 {
			t.Error("stream sent an empty batch")
		}
		for _, c := range resp.Containers {
			ids = append(ids, c.Id)
		}
	}
}

func TestContainerRPCsWithoutRuntime(t *testing.T) {
	rc, _ := dialServer(t, NewServer(Options{}))
	_, err := rc.CreateContainer(context.Background(), createReq("pod1", "c"))
	wantCode(t, "create without runtime", err, codes.Unimplemented, "")
	_, err = rc.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{})
	wantCode(t, "list without runtime", err, codes.Unimplemented, "")
}

func TestReopenContainerLog(t *testing.T) {
	rc, rt := containerServer(t)
	ctx := context.Background()
	resp, err := rc.CreateContainer(ctx, createReq("pod1", "c"))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	_, err = rc.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
	wantCode(t, "reopen of a created container", err, codes.FailedPrecondition, id)
	_, err = rc.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "nope"})
	wantCode(t, "reopen of an unknown container", err, codes.NotFound, "nope")
	rt.set(id, func(s *runtime.Status) { s.State = runtime.StateRunning })
	if _, err := rc.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil || len(rt.reopened) != 1 {
		t.Errorf("reopen of a running container: %v, runtime calls %v", err, rt.reopened)
	}
}
