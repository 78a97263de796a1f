package cri

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// TestRequestStringsRejectNUL (issue 14 item 5): a NUL byte anywhere in a request's strings
// (scalar, repeated, map key or value, nested message) is InvalidArgument naming the field path.
func TestRequestStringsRejectNUL(t *testing.T) {
	ctr := func(f func(c *runtimeapi.ContainerConfig)) proto.Message {
		c := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image: &runtimeapi.ImageSpec{Image: "busybox"}, Command: []string{"sh"}, Args: []string{"-c", "true"},
			Envs:   []*runtimeapi.KeyValue{{Key: "A", Value: []byte("b")}},
			Labels: map[string]string{"l": "v"}, Mounts: []*runtimeapi.Mount{{ContainerPath: "/m", HostPath: "/tmp"}}}
		f(c)
		return &runtimeapi.CreateContainerRequest{PodSandboxId: "p", Config: c}
	}
	pod := func(f func(c *runtimeapi.PodSandboxConfig)) proto.Message {
		c := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "n", Namespace: "ns", Uid: "u"},
			Annotations: map[string]string{"a": "b"}, Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/x"}}
		f(c)
		return &runtimeapi.RunPodSandboxRequest{Config: c}
	}
	cases := []struct {
		req  proto.Message
		path string
	}{
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "a\x00b" }), "config.metadata.name"},
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Namespace = "\x00" }), "config.metadata.namespace"},
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "u\x00" }), "config.metadata.uid"},
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Annotations["a"] = "x\x00" }), `config.annotations["a"]`},
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Annotations["k\x00"] = "x" }), `config.annotations["k\x00"] (key)`},
		{pod(func(c *runtimeapi.PodSandboxConfig) { c.Linux.CgroupParent = "/x\x00" }), "config.linux.cgroup_parent"},
		{pod(func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig = &runtimeapi.DNSConfig{Searches: []string{"a", "b\x00"}}
		}), "config.dns_config.searches[1]"},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.Args[1] = "true\x00" }), "config.args[1]"},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.Command[0] = "\x00" }), "config.command[0]"},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.Envs[0].Value = []byte("b\x00") }), "config.envs[0].value"},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.Labels["l"] = "\x00" }), `config.labels["l"]`},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.Mounts[0].HostPath = "/tmp\x00/x" }), "config.mounts[0].host_path"},
		{ctr(func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "/\x00" }), "config.working_dir"},
		{&runtimeapi.ExecSyncRequest{ContainerId: "c", Cmd: []string{"ls", "\x00"}}, "cmd[1]"},
		{&runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "a\x00"}}, "image.image"},
		{&runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "a"}, Auth: &runtimeapi.AuthConfig{Password: "secret\x00"}}, "auth.password"},
		{&runtimeapi.StopPodSandboxRequest{PodSandboxId: "id\x00"}, "pod_sandbox_id"},
	}
	for _, c := range cases {
		err := checkRequestStrings(c.req)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), c.path+":") {
			t.Errorf("%s: got %v, want InvalidArgument naming %s", c.path, err, c.path)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error echoes the value: %v", c.path, err)
		}
	}
	for _, ok := range []proto.Message{ctr(func(*runtimeapi.ContainerConfig) {}), pod(func(*runtimeapi.PodSandboxConfig) {}),
		&runtimeapi.ListContainersRequest{}} {
		if err := checkRequestStrings(ok); err != nil {
			t.Errorf("clean request %T: %v", ok, err)
		}
	}
}

// TestUnaryInterceptorRejectsNUL: the handler never sees a request with a NUL.
func TestUnaryInterceptorRejectsNUL(t *testing.T) {
	ic := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/RunPodSandbox"}
	req := &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "a\x00", Namespace: "n", Uid: "u"}}}
	_, err := ic(context.Background(), req, info, func(ctx context.Context, req any) (any, error) {
		t.Error("the handler ran")
		return nil, nil
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "config.metadata.name") {
		t.Fatalf("got %v, want InvalidArgument naming config.metadata.name", err)
	}
}
