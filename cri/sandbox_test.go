package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/sandbox"
)

func runRequest(name string) *runtimeapi.RunPodSandboxRequest {
	return &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name, Attempt: 2},
		Hostname:     "h-" + name,
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}},
		PortMappings: []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353}},
		Labels:       map[string]string{"app": name},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			Sysctls: map[string]string{"net.core.somaxconn": "1024"},
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				RunAsUser:        &runtimeapi.Int64Value{Value: 1000},
				NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD},
			},
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 << 20},
		},
	}}
}

func TestPodConfigConversion(t *testing.T) {
	pc, err := podConfig(runRequest("a"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.Name != "a" || pc.Attempt != 2 || pc.Namespaces.PID != sandbox.PIDModePod || *pc.Security.RunAsUser != 1000 ||
		pc.PortMappings[0].Protocol != "udp" || pc.Resources.CPUShares != 512 || pc.DNS.Servers[0] != "10.0.0.10" {
		t.Fatalf("converted %+v", pc)
	}
	if _, err := podConfig(&runtimeapi.RunPodSandboxRequest{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("nil config: %v", err)
	}
}

func TestPodStatusAndFilter(t *testing.T) {
	sb := sandbox.Sandbox{ID: "abcdef", Name: "n", State: sandbox.StateNotReady, HostNetwork: true,
		PIDMode: sandbox.PIDModeTarget, PIDTarget: "ctr", IPs: []string{"10.1.0.2", "fd00::2"},
		Labels: map[string]string{"a": "1", "b": "2"}, CreatedAt: time.Unix(5, 0)}
	st := criPodStatus(&sb)
	o := st.GetLinux().GetNamespaces().GetOptions()
	if st.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY || st.Network.Ip != "10.1.0.2" ||
		st.Network.AdditionalIps[0].Ip != "fd00::2" || o.Network != runtimeapi.NamespaceMode_NODE ||
		o.Ipc != runtimeapi.NamespaceMode_POD || o.Pid != runtimeapi.NamespaceMode_TARGET || o.TargetId != "ctr" ||
		st.CreatedAt != 5e9 {
		t.Fatalf("status %+v", st)
	}
	notReady := &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}
	for _, c := range []struct {
		f    *runtimeapi.PodSandboxFilter
		want bool
	}{
		{nil, true},
		{&runtimeapi.PodSandboxFilter{Id: "abc"}, true},
		{&runtimeapi.PodSandboxFilter{Id: "abd"}, false},
		{&runtimeapi.PodSandboxFilter{State: notReady}, true},
		{&runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{}}, false},
		{&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"a": "1"}}, true},
		{&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"a": "1", "c": "3"}}, false},
	} {
		if got := podMatches(&sb, c.f); got != c.want {
			t.Errorf("filter %v: %v, want %v", c.f, got, c.want)
		}
	}
}

func TestRootPodSandboxRPCs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	cg := fmt.Sprintf("/crishim-critest-%d", time.Now().UnixNano())
	m, err := sandbox.New(sandbox.DefaultConfig(), filepath.Join(dir, "root"), filepath.Join(dir, "state"), cg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Options{Sandboxes: m})
	ctx := context.Background()
	run, err := s.RunPodSandbox(ctx, runRequest("rpc"))
	if err != nil {
		t.Fatal(err)
	}
	id := run.PodSandboxId
	st, err := s.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.Metadata.Attempt != 2 {
		t.Fatalf("status %v %v", st, err)
	}
	var info sandbox.Sandbox
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.InfraPID == 0 {
		t.Fatalf("verbose info %q: %v", st.Info["info"], err)
	}
	list, _ := s.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{Id: id[:8]}})
	if len(list.Items) != 1 || list.Items[0].Labels["app"] != "rpc" {
		t.Fatalf("list %v", list.Items)
	}
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("status after remove: %v", err)
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*" + cg)
	hier2, _ := filepath.Glob("/sys/fs/cgroup" + cg)
	for _, d := range append(hier, hier2...) {
		if err := os.Remove(d); err != nil {
			t.Errorf("cgroup parent left: %v", err)
		}
	}
}
