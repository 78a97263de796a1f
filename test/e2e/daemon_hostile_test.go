package e2e

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostilePodCalls (issue 14 items 5, 7, 8): NUL bytes, names that are not a path component,
// and oversized metadata are refused with InvalidArgument naming the field before anything
// is created (TestDaemonBadInput checks nothing more is listed and the leak check that
// nothing is left).
func hostilePodCalls(e *daemonEnv) []badCall {
	run := func(f func(*runtimeapi.PodSandboxConfig)) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: withPod(e.podConfig("hostile-pod"), f)})
			return err
		}
	}
	inv := codes.InvalidArgument
	long := strings.Repeat("x", 254)
	half := strings.Repeat("y", 128<<10)
	return []badCall{
		{"RunPodSandbox NUL in name", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "nul\x00pod" }), inv, []string{"config.metadata.name", "NUL"}},
		{"RunPodSandbox NUL in namespace", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "ns\x00" }), inv, []string{"config.metadata.namespace", "NUL"}},
		{"RunPodSandbox NUL in uid", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "\x00" }), inv, []string{"config.metadata.uid", "NUL"}},
		{"RunPodSandbox NUL in a label", run(func(c *runtimeapi.PodSandboxConfig) { c.Labels = map[string]string{"l": "v\x00"} }), inv, []string{`config.labels["l"]`, "NUL"}},
		{"RunPodSandbox NUL in an annotation key", run(func(c *runtimeapi.PodSandboxConfig) { c.Annotations = map[string]string{"a\x00": "v"} }), inv, []string{"config.annotations", "NUL"}},
		{"RunPodSandbox NUL in hostname", run(func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "h\x00" }), inv, []string{"config.hostname", "NUL"}},
		{"RunPodSandbox NUL in log directory", run(func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory += "\x00" }), inv, []string{"config.log_directory", "NUL"}},
		{"RunPodSandbox NUL in a DNS search", run(func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig = &runtimeapi.DNSConfig{Searches: []string{"ok", "bad\x00"}}
		}), inv, []string{"config.dns_config.searches[1]", "NUL"}},
		{"RunPodSandbox name ..", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = ".." }), inv, []string{"metadata.name", ".."}},
		{"RunPodSandbox name .", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "." }), inv, []string{"metadata.name"}},
		{"RunPodSandbox name with slash", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "a/b" }), inv, []string{"metadata.name", "a/b"}},
		{"RunPodSandbox name too long", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = long }), inv, []string{"metadata.name", "253"}},
		{"RunPodSandbox namespace ..", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = ".." }), inv, []string{"metadata.namespace"}},
		{"RunPodSandbox namespace with slash", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "x/y" }), inv, []string{"metadata.namespace", "x/y"}},
		{"RunPodSandbox namespace too long", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = long }), inv, []string{"metadata.namespace", "253"}},
		{"RunPodSandbox uid .", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "." }), inv, []string{"metadata.uid"}},
		{"RunPodSandbox uid with slash", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "../u" }), inv, []string{"metadata.uid", "../u"}},
		{"RunPodSandbox uid too long", run(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = long }), inv, []string{"metadata.uid", "253"}},
		{"RunPodSandbox labels and annotations over 256 KiB", run(func(c *runtimeapi.PodSandboxConfig) {
			c.Labels = map[string]string{"l": half}
			c.Annotations = map[string]string{"a": half}
		}), inv, []string{"labels and annotations", "262144"}},
	}
}

// hostileContainerCalls (issue 14 items 5, 7, 8, 9) need a running pod.
func hostileContainerCalls(e *daemonEnv, podID string, pod *runtimeapi.PodSandboxConfig) []badCall {
	create := func(f func(*runtimeapi.ContainerConfig)) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			cfg := shContainer("hostile", "true")
			f(cfg)
			_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			return err
		}
	}
	inv := codes.InvalidArgument
	const missing = "/nonexistent/crishim-e2e/host-path"
	return []badCall{
		{"CreateContainer NUL in name", create(func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "c\x00" }), inv, []string{"config.metadata.name", "NUL"}},
		{"CreateContainer NUL in an argument", create(func(c *runtimeapi.ContainerConfig) { c.Command[2] = "true\x00false" }), inv, []string{"config.command[2]", "NUL"}},
		{"CreateContainer NUL in args", create(func(c *runtimeapi.ContainerConfig) { c.Args = []string{"x", "\x00"} }), inv, []string{"config.args[1]", "NUL"}},
		{"CreateContainer NUL in an env value", create(func(c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "K", Value: []byte("v\x00w")}}
		}), inv, []string{"config.envs[0].value", "NUL"}},
		{"CreateContainer NUL in an env key", create(func(c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "K\x00", Value: []byte("v")}}
		}), inv, []string{"config.envs[0].key", "NUL"}},
		{"CreateContainer NUL in a mount host path", create(func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: "/tmp\x00", ContainerPath: "/m"}}
		}), inv, []string{"config.mounts[0].host_path", "NUL"}},
		{"CreateContainer NUL in working dir", create(func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "/\x00" }), inv, []string{"config.working_dir", "NUL"}},
		{"CreateContainer NUL in log path", create(func(c *runtimeapi.ContainerConfig) { c.LogPath = "x\x00.log" }), inv, []string{"config.log_path", "NUL"}},
		{"CreateContainer NUL in image", create(func(c *runtimeapi.ContainerConfig) { c.Image.Image = busyboxRef + "\x00" }), inv, []string{"config.image.image", "NUL"}},
		{"CreateContainer NUL in the pod id", func(ctx context.Context) error {
			_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID + "\x00", Config: sleeper(), SandboxConfig: pod})
			return err
		}, inv, []string{"pod_sandbox_id", "NUL"}},
		{"CreateContainer name ..", create(func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = ".." }), inv, []string{"config.metadata.name"}},
		{"CreateContainer name .", create(func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "." }), inv, []string{"config.metadata.name"}},
		{"CreateContainer name too long", create(func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = strings.Repeat("c", 254) }), inv, []string{"config.metadata.name"}},
		{"CreateContainer labels and annotations over 256 KiB", create(func(c *runtimeapi.ContainerConfig) {
			c.Labels = map[string]string{"l": strings.Repeat("l", 200<<10)}
			c.Annotations = map[string]string{"a": strings.Repeat("a", 57<<10)}
		}), inv, []string{"labels and annotations", "262144"}},
		{"CreateContainer mount of a missing host path", create(func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: "/", ContainerPath: "/a"}, {HostPath: missing, ContainerPath: "/m"}}
		}), inv, []string{"mounts[1].host_path", missing, "does not exist"}},
		{"ExecSync NUL in cmd", func(ctx context.Context) error {
			_, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: unknownID, Cmd: []string{"ls", "\x00"}, Timeout: 5})
			return err
		}, inv, []string{"cmd[1]", "NUL"}},
		{"PullImage NUL in reference", func(ctx context.Context) error {
			_, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef + "\x00"}})
			return err
		}, inv, []string{"image.image", "NUL"}},
	}
}

// checkNoNameCollision (issue 14 item 7): pods whose name_namespace_uid joins would be equal
// ("a_b" in "c" and "a" in "b_c", same uid) are two pods, not a name conflict.
func checkNoNameCollision(e *daemonEnv) {
	a := e.podConfig("collide")
	a.Metadata.Name, a.Metadata.Namespace, a.Metadata.Uid = "a_b", "c", "u-"+e.sfx
	b := withPod(a, func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name, c.Metadata.Namespace = "a", "b_c" })
	idA := e.runPod(a)
	idB := e.runPod(b)
	if idA == idB {
		e.t.Errorf("pods a_b/c and a/b_c got the same id %s", idA)
	}
	e.removePod(idA)
	e.removePod(idB)
}
