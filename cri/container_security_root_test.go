package cri

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerConfigRoot checks, inside real containers, that what the CRI asks arrives:
// user and group, env and working dir, read-only rootfs, a read-only host-path volume and
// the pid namespace modes.
func TestContainerConfigRoot(t *testing.T) {
	e := newRootEnv(t)
	vol := filepath.Join(e.dir, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := func(mut func(*runtimeapi.LinuxContainerSecurityContext)) *runtimeapi.LinuxContainerConfig {
		s := &runtimeapi.LinuxContainerSecurityContext{}
		mut(s)
		return &runtimeapi.LinuxContainerConfig{SecurityContext: s}
	}
	cases := []struct {
		name string
		mut  func(*runtimeapi.ContainerConfig)
		cmd  string
		want string
	}{
		{"user and group", func(c *runtimeapi.ContainerConfig) {
			c.Linux = sc(func(s *runtimeapi.LinuxContainerSecurityContext) {
				s.RunAsUser, s.RunAsGroup = &runtimeapi.Int64Value{Value: 1000}, &runtimeapi.Int64Value{Value: 2000}
			})
		}, "id -u; id -g", "1000\n2000\n"},
		{"env and working dir", func(c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "FOO", Value: []byte("bar")}}
			c.WorkingDir = "/tmp"
		}, "echo $FOO; pwd", "bar\n/tmp\n"},
		{"read-only rootfs", func(c *runtimeapi.ContainerConfig) {
			c.Linux = sc(func(s *runtimeapi.LinuxContainerSecurityContext) { s.ReadonlyRootfs = true })
		}, "touch /x 2>/dev/null && echo writable || echo readonly", "readonly\n"},
		{"read-only volume", func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/mnt", Readonly: true}}
		}, "cat /mnt/f; echo; touch /mnt/new 2>/dev/null && echo writable || echo readonly", "from-host\nreadonly\n"},
		{"pid CONTAINER", func(c *runtimeapi.ContainerConfig) {
			c.Linux = sc(func(s *runtimeapi.LinuxContainerSecurityContext) {
				s.NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
			})
		}, "cat /proc/1/cmdline | tr '\\0' ' '", "sleep 1000 "},
		{"pid POD", func(c *runtimeapi.ContainerConfig) {}, "cat /proc/1/cmdline | grep -c 'sleep 1000' || true", "0\n"},
	}
	ctx := context.Background()
	for i, c := range cases {
		cfg := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c" + string(rune('a'+i))},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  []string{"sleep", "1000"},
		}
		c.mut(cfg)
		resp, err := e.rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: e.pod.ID, Config: cfg})
		if err != nil {
			t.Errorf("%s: create: %v", c.name, err)
			continue
		}
		id := resp.ContainerId
		if _, err := e.rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
			t.Errorf("%s: start: %v", c.name, err)
		} else {
			out, err := e.rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", c.cmd}, Timeout: 10})
			if err != nil || string(out.Stdout) != c.want {
				t.Errorf("%s: %q gave %q (stderr %q), %v; want %q", c.name, c.cmd, out.GetStdout(), out.GetStderr(), err, c.want)
			}
		}
		if _, err := e.rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Errorf("%s: remove: %v", c.name, err)
		}
	}
}
