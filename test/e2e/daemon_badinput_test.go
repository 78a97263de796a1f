package e2e

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// badCall is one CRI call with bad input and the answer it must get.
type badCall struct {
	name  string
	call  func(ctx context.Context) error
	code  codes.Code
	words []string // the message names these (the field, the object)
}

const unknownID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestDaemonBadInput (issues 3, 5 and 14): requests with missing, empty, unknown or conflicting
// input get the right gRPC code with a message naming the field or object; idempotent calls on
// unknown ids succeed; the daemon does not panic and nothing is left behind.
func TestDaemonBadInput(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()
	pod := e.podConfig("badinput")
	podID := e.runPod(pod)
	ctrID := e.startContainer(podID, pod, sleeper())

	calls := append(badPodCalls(e), badContainerCalls(e, podID, pod, ctrID)...)
	calls = append(calls, badImageCalls(e)...)
	calls = append(calls, idempotentCalls(e)...)
	calls = append(calls, hostilePodCalls(e)...)
	calls = append(calls, hostileContainerCalls(e, podID, pod)...)
	for _, c := range calls {
		ctx, cancel := e.ctx()
		err := c.call(ctx)
		cancel()
		if werr := wantCode(err, c.code, c.words...); werr != nil {
			t.Errorf("%s: %v", c.name, werr)
		} else {
			t.Logf("%s: %v", c.name, describe(err))
		}
	}
	if e.d.Exited() {
		t.Fatal("the daemon exited during the bad-input calls")
	}
	checkStoppedPod(t, e)
	checkNoNameCollision(e)

	// Nothing half-made is listed: the one pod and its one container.
	if p, c := e.listCounts(); p != 1 || c != 1 {
		t.Errorf("after the bad calls: %d pods, %d containers listed, want 1 and 1", p, c)
	}
	if st := e.containerStatus(ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("the good container is %v after the bad calls, want RUNNING", st.State)
	}
	// Stop and remove twice: idempotent on known ids too.
	ctx, cancel := e.ctx()
	defer cancel()
	for range 2 {
		if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 1}); err != nil {
			t.Errorf("stop container: %v", err)
		}
	}
	for range 2 {
		if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ctrID}); err != nil {
			t.Errorf("remove container: %v", err)
		}
	}
	for range 2 {
		e.removePod(podID)
	}
	if p, c := e.listCounts(); p != 0 || c != 0 {
		t.Errorf("after removing the pod: %d pods, %d containers listed", p, c)
	}
}

// checkStoppedPod: a container cannot be created in a stopped pod; the pod's status still
// answers; the pod is then removed.
func checkStoppedPod(t *testing.T, e *daemonEnv) {
	cfg := e.podConfig("stopped")
	id := e.runPod(cfg)
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: sleeper(), SandboxConfig: cfg})
	if werr := wantCode(err, codes.FailedPrecondition, id, "not ready"); werr != nil {
		t.Errorf("CreateContainer in a stopped pod: %v", werr)
	}
	st, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("status of a stopped pod: %v %v", st, err)
	}
	e.removePod(id)
}

func sleeper() *runtimeapi.ContainerConfig { return shContainer("sleeper", "exec sleep 3600") }

// withPod returns a copy of cfg changed by f.
func withPod(cfg *runtimeapi.PodSandboxConfig, f func(*runtimeapi.PodSandboxConfig)) *runtimeapi.PodSandboxConfig {
	c := proto.Clone(cfg).(*runtimeapi.PodSandboxConfig)
	f(c)
	return c
}

func badPodCalls(e *daemonEnv) []badCall {
	run := func(cfg *runtimeapi.PodSandboxConfig) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			return err
		}
	}
	good := e.podConfig("bad-pod")
	inv := codes.InvalidArgument
	return []badCall{
		{"RunPodSandbox without config", run(nil), inv, []string{"metadata"}},
		{"RunPodSandbox without metadata", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) { c.Metadata = nil })), inv, []string{"metadata"}},
		{"RunPodSandbox empty name", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "" })), inv, []string{"metadata.name"}},
		{"RunPodSandbox empty uid", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "" })), inv, []string{"metadata.uid"}},
		{"RunPodSandbox empty namespace", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "" })), inv, []string{"metadata.namespace"}},
		{"RunPodSandbox user namespace with host network", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_NODE,
				UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
					Uids: []*runtimeapi.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}},
					Gids: []*runtimeapi.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}}},
			}}
		})), inv, []string{"userns_options", "host network"}},
		{"RunPodSandbox pid TARGET without target", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Pid: runtimeapi.NamespaceMode_TARGET}}
		})), inv, []string{"target_id"}},
		{"RunPodSandbox network CONTAINER", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_CONTAINER}}
		})), inv, []string{"namespace_options.network"}},
		{"RunPodSandbox relative cgroup parent", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.CgroupParent = "../escape"
		})), inv, []string{"cgroup_parent", "../escape"}},
		{"RunPodSandbox unknown runtime handler", func(ctx context.Context) error {
			_, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: good, RuntimeHandler: "no-such-handler"})
			return err
		}, inv, []string{"no-such-handler"}},
		{"RunPodSandbox sysctl not namespaced", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"vm.swappiness": "10"}
		})), inv, []string{"vm.swappiness"}},
		{"RunPodSandbox relative log directory", run(withPod(good, func(c *runtimeapi.PodSandboxConfig) {
			c.LogDirectory = "relative/logs"
		})), inv, []string{"log_directory"}},
		{"PodSandboxStatus empty id", func(ctx context.Context) error {
			_, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{})
			return err
		}, inv, []string{"pod_sandbox_id"}},
		{"PodSandboxStatus unknown id", func(ctx context.Context) error {
			_, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: unknownID})
			return err
		}, codes.NotFound, []string{unknownID}},
	}
}

// badContainerCalls need a running pod (podID) with a running container (ctrID).
func badContainerCalls(e *daemonEnv, podID string, pod *runtimeapi.PodSandboxConfig, ctrID string) []badCall {
	create := func(podID string, f func(*runtimeapi.ContainerConfig)) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			cfg := shContainer("bad", "true")
			f(cfg)
			_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			return err
		}
	}
	same := func(*runtimeapi.ContainerConfig) {}
	security := func(sc *runtimeapi.LinuxContainerSecurityContext) func(*runtimeapi.ContainerConfig) {
		return func(c *runtimeapi.ContainerConfig) { c.Linux.SecurityContext = sc }
	}
	inv, nf := codes.InvalidArgument, codes.NotFound
	const missingProfile = "/nonexistent/crishim-e2e/seccomp.json"
	return []badCall{
		{"CreateContainer empty pod id", create("", same), inv, []string{"pod_sandbox_id"}},
		{"CreateContainer unknown pod id", create(unknownID, same), nf, []string{unknownID}},
		{"CreateContainer without image", create(podID, func(c *runtimeapi.ContainerConfig) { c.Image = nil }), inv, []string{"image"}},
		{"CreateContainer unknown image", create(podID, func(c *runtimeapi.ContainerConfig) {
			c.Image.Image = "registry.k8s.io/no-such-image:1"
		}), nf, []string{"registry.k8s.io/no-such-image:1", "not found"}},
		{"CreateContainer empty name", create(podID, func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "" }), inv, []string{"metadata.name"}},
		{"CreateContainer without metadata", create(podID, func(c *runtimeapi.ContainerConfig) { c.Metadata = nil }), inv, []string{"metadata"}},
		{"CreateContainer name with slash", create(podID, func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "a/b" }), inv, []string{"metadata.name", "a/b"}},
		{"CreateContainer network NODE in a pod network", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}})), inv, []string{"namespace_options.network"}},
		{"CreateContainer pid NODE in a pod without host pid", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE}})), inv, []string{"namespace_options.pid"}},
		{"CreateContainer pid TARGET without target", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET}})), inv, []string{"target_id"}},
		{"CreateContainer unknown seccomp profile type", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: 42}})), inv, []string{"seccomp"}},
		{"CreateContainer missing localhost seccomp profile", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: missingProfile}})),
			inv, []string{"seccomp", missingProfile}},
		{"CreateContainer relative localhost seccomp profile", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "profile.json"}})),
			inv, []string{"localhost_ref", "profile.json"}},
		{"CreateContainer unknown seccomp_profile_path", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			SeccompProfilePath: "bogus/profile"})), inv, []string{"seccomp_profile_path", "bogus/profile"}},
		{"CreateContainer AppArmor profile without AppArmor", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "e2e-profile"}})),
			codes.FailedPrecondition, []string{"apparmor"}},
		{"CreateContainer log path out of the pod's log directory", create(podID, func(c *runtimeapi.ContainerConfig) { c.LogPath = "../escape.log" }),
			inv, []string{"log_path", "../escape.log"}},
		{"CreateContainer name in use with another config", create(podID, func(c *runtimeapi.ContainerConfig) {
			c.Metadata.Name = "sleeper"
		}), codes.AlreadyExists, []string{"sleeper", ctrID}},
		{"CreateContainer retry of the running one", func(ctx context.Context) error {
			resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: sleeper(), SandboxConfig: pod})
			if err == nil && resp.ContainerId != ctrID {
				e.t.Errorf("a retry of the create got container %s, want %s", resp.ContainerId, ctrID)
			}
			return err
		}, codes.OK, nil},
		{"CreateContainer unknown user name", create(podID, security(&runtimeapi.LinuxContainerSecurityContext{
			RunAsUsername: "no-such-user"})), inv, []string{"no-such-user"}},
		{"CreateContainer missing device", create(podID, func(c *runtimeapi.ContainerConfig) {
			c.Devices = []*runtimeapi.Device{{HostPath: "/dev/crishim-e2e-nodev", ContainerPath: "/dev/x", Permissions: "rw"}}
		}), inv, []string{"/dev/crishim-e2e-nodev"}},
		{"ReopenContainerLog unknown id", func(ctx context.Context) error {
			_, err := e.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: unknownID})
			return err
		}, nf, []string{unknownID}},
		{"StartContainer empty id", func(ctx context.Context) error {
			_, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{})
			return err
		}, inv, []string{"container_id"}},
		{"StartContainer unknown id", func(ctx context.Context) error {
			_, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: unknownID})
			return err
		}, nf, []string{unknownID}},
		{"StartContainer already running", func(ctx context.Context) error {
			_, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctrID})
			return err
		}, codes.FailedPrecondition, []string{ctrID}},
		{"ContainerStatus empty id", func(ctx context.Context) error {
			_, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{})
			return err
		}, inv, []string{"container_id"}},
		{"ContainerStatus unknown id", func(ctx context.Context) error {
			_, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: unknownID})
			return err
		}, nf, []string{unknownID}},
		{"ExecSync empty cmd", func(ctx context.Context) error {
			_, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctrID, Timeout: 5})
			return err
		}, inv, []string{"cmd"}},
		{"ExecSync unknown container", func(ctx context.Context) error {
			_, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: unknownID, Cmd: []string{"true"}, Timeout: 5})
			return err
		}, nf, []string{unknownID}},
	}
}

func badImageCalls(e *daemonEnv) []badCall {
	pull := func(ref string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			return err
		}
	}
	const unknownImage = "registry.k8s.io/crishim-e2e/no-such-image:1"
	return []badCall{
		{"PullImage without image", func(ctx context.Context) error {
			_, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{})
			return err
		}, codes.InvalidArgument, []string{"image"}},
		{"PullImage empty reference", pull(""), codes.InvalidArgument, []string{"image"}},
		{"PullImage malformed reference", pull("Bad::Reference"), codes.InvalidArgument, []string{"Bad::Reference"}},
		{"PullImage unknown image", pull(unknownImage), codes.NotFound, []string{unknownImage, "not found"}},
		{"ImageStatus unknown image", func(ctx context.Context) error {
			resp, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: unknownImage}})
			if err == nil && resp.Image != nil {
				e.t.Errorf("ImageStatus of an unknown image: got image %+v, want nil", resp.Image)
			}
			return err
		}, codes.OK, nil},
		{"RemoveImage unknown image", func(ctx context.Context) error {
			_, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: unknownImage}})
			return err
		}, codes.OK, nil},
	}
}

// idempotentCalls: stop and remove of unknown ids succeed.
func idempotentCalls(e *daemonEnv) []badCall {
	return []badCall{
		{"StopPodSandbox unknown id", func(ctx context.Context) error {
			_, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: unknownID})
			return err
		}, codes.OK, nil},
		{"RemovePodSandbox unknown id", func(ctx context.Context) error {
			_, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: unknownID})
			return err
		}, codes.OK, nil},
		{"StopContainer unknown id", func(ctx context.Context) error {
			_, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: unknownID})
			return err
		}, codes.OK, nil},
		{"RemoveContainer unknown id", func(ctx context.Context) error {
			_, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: unknownID})
			return err
		}, codes.OK, nil},
	}
}

// TestDaemonConcurrentNames: concurrent identical creates (kubelet retries racing the first
// request) get one pod or container and the same id; concurrent creates of one name with
// different configurations get one winner and AlreadyExists naming it for the others.
func TestDaemonConcurrentNames(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()
	const n = 6
	pod := e.podConfig("race")
	podIDs := make([]string, n)
	errs := make([]error, n)
	_ = forEach(n, n, func(i int) error {
		ctx, cancel := e.ctx()
		defer cancel()
		resp, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
		if err == nil {
			podIDs[i] = resp.PodSandboxId
		}
		errs[i] = err
		return nil
	})
	for i := range n {
		if errs[i] != nil || podIDs[i] != podIDs[0] {
			t.Errorf("concurrent identical RunPodSandbox %d: id %q err %v, want %q", i, podIDs[i], errs[i], podIDs[0])
		}
	}
	if p, _ := e.listCounts(); p != 1 {
		t.Errorf("%d pods listed after %d identical concurrent runs, want 1", p, n)
	}

	same := make([]string, n)
	_ = forEach(n, n, func(i int) error {
		ctx, cancel := e.ctx()
		defer cancel()
		resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podIDs[0], Config: sleeper(), SandboxConfig: pod})
		if err == nil {
			same[i] = resp.ContainerId
		}
		errs[i] = err
		return nil
	})
	for i := range n {
		if errs[i] != nil || same[i] != same[0] {
			t.Errorf("concurrent identical CreateContainer %d: id %q err %v, want %q", i, same[i], errs[i], same[0])
		}
	}

	winners := make([]string, n)
	_ = forEach(n, n, func(i int) error {
		ctx, cancel := e.ctx()
		defer cancel()
		cfg := shContainer("contested", fmt.Sprintf("exec sleep %d", 1000+i))
		resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podIDs[0], Config: cfg, SandboxConfig: pod})
		if err == nil {
			winners[i] = resp.ContainerId
		}
		errs[i] = err
		return nil
	})
	var winner string
	for i := range n {
		if winners[i] != "" {
			if winner != "" {
				t.Errorf("two containers created under one name: %s and %s", winner, winners[i])
			}
			winner = winners[i]
		}
	}
	for i := range n {
		if winners[i] == "" {
			// The holder may still be in creation (no id yet): the name is what the message names.
			if werr := wantCode(errs[i], codes.AlreadyExists, "contested"); werr != nil {
				t.Errorf("concurrent CreateContainer %d of a contested name: %v", i, werr)
			}
		}
	}
	if _, c := e.listCounts(); c != 2 {
		t.Errorf("%d containers listed, want 2 (sleeper and contested)", c)
	}
	e.removePod(podIDs[0])
}
