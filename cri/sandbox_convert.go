package cri

import (
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/sandbox"
)

// podConfig converts RunPodSandbox's request into the sandbox package's PodConfig.
func podConfig(req *runtimeapi.RunPodSandboxRequest) (sandbox.PodConfig, error) {
	c := req.GetConfig()
	if c == nil || c.GetMetadata() == nil {
		return sandbox.PodConfig{}, fmt.Errorf("config.metadata: must be set: %w", errdefs.ErrInvalidArgument)
	}
	md, lx := c.GetMetadata(), c.GetLinux()
	sc := lx.GetSecurityContext()
	pc := sandbox.PodConfig{
		Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), Attempt: md.GetAttempt(),
		Hostname: c.GetHostname(), LogDirectory: c.GetLogDirectory(),
		Labels: c.GetLabels(), Annotations: c.GetAnnotations(),
		RuntimeHandler: req.GetRuntimeHandler(),
		CgroupParent:   lx.GetCgroupParent(),
		Sysctls:        lx.GetSysctls(),
		Namespaces:     namespaceOptions(sc.GetNamespaceOptions()),
		Security: sandbox.SecurityContext{
			Privileged: sc.GetPrivileged(), SupplementalGroups: sc.GetSupplementalGroups(),
			ReadOnlyRootfs: sc.GetReadonlyRootfs(),
		},
		Overhead:  podResources(lx.GetOverhead()),
		Resources: podResources(lx.GetResources()),
	}
	if u := sc.GetRunAsUser(); u != nil {
		v := u.GetValue()
		pc.Security.RunAsUser = &v
	}
	if g := sc.GetRunAsGroup(); g != nil {
		v := g.GetValue()
		pc.Security.RunAsGroup = &v
	}
	if d := c.GetDnsConfig(); d != nil {
		pc.DNS = &sandbox.DNSConfig{Servers: d.GetServers(), Searches: d.GetSearches(), Options: d.GetOptions()}
	}
	for _, p := range c.GetPortMappings() {
		pc.PortMappings = append(pc.PortMappings, sandbox.PortMapping{
			Protocol:      strings.ToLower(p.GetProtocol().String()),
			ContainerPort: p.GetContainerPort(), HostPort: p.GetHostPort(), HostIP: p.GetHostIp(),
		})
	}
	return pc, nil
}

func namespaceOptions(o *runtimeapi.NamespaceOption) sandbox.NamespaceOptions {
	n := sandbox.NamespaceOptions{
		Network: sandbox.NamespaceMode(o.GetNetwork()), PID: sandbox.NamespaceMode(o.GetPid()),
		IPC: sandbox.NamespaceMode(o.GetIpc()), TargetID: o.GetTargetId(),
	}
	if u := o.GetUsernsOptions(); u != nil {
		n.UserNS = &sandbox.UserNamespace{Mode: sandbox.NamespaceMode(u.GetMode()),
			UIDs: idMappings(u.GetUids()), GIDs: idMappings(u.GetGids())}
	}
	return n
}

func idMappings(in []*runtimeapi.IDMapping) []sandbox.IDMapping {
	var out []sandbox.IDMapping
	for _, m := range in {
		out = append(out, sandbox.IDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
	}
	return out
}

func criIDMappings(in []sandbox.IDMapping) []*runtimeapi.IDMapping {
	var out []*runtimeapi.IDMapping
	for _, m := range in {
		out = append(out, &runtimeapi.IDMapping{ContainerId: m.ContainerID, HostId: m.HostID, Length: m.Size})
	}
	return out
}

func podResources(r *runtimeapi.LinuxContainerResources) *sandbox.Resources {
	if r == nil {
		return nil
	}
	return &sandbox.Resources{
		CPUPeriod: r.GetCpuPeriod(), CPUQuota: r.GetCpuQuota(), CPUShares: r.GetCpuShares(),
		MemoryLimitBytes: r.GetMemoryLimitInBytes(), CpusetCpus: r.GetCpusetCpus(),
		CpusetMems: r.GetCpusetMems(), Unified: r.GetUnified(),
	}
}

func podState(s sandbox.State) runtimeapi.PodSandboxState {
	if s == sandbox.StateReady {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

func podMetadata(sb *sandbox.Sandbox) *runtimeapi.PodSandboxMetadata {
	return &runtimeapi.PodSandboxMetadata{Name: sb.Name, Uid: sb.UID, Namespace: sb.Namespace, Attempt: sb.Attempt}
}

// criPodSandbox is the ListPodSandbox form of a pod.
func criPodSandbox(sb *sandbox.Sandbox) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{
		Id: sb.ID, Metadata: podMetadata(sb), State: podState(sb.State),
		CreatedAt: sb.CreatedAt.UnixNano(), Labels: sb.Labels, Annotations: sb.Annotations,
		RuntimeHandler: sb.RuntimeHandler,
	}
}

// criNamespaceOptions reports the pod's namespace modes as RunPodSandbox asked for them.
func criNamespaceOptions(sb *sandbox.Sandbox) *runtimeapi.NamespaceOption {
	mode := func(host bool) runtimeapi.NamespaceMode {
		if host {
			return runtimeapi.NamespaceMode_NODE
		}
		return runtimeapi.NamespaceMode_POD
	}
	o := &runtimeapi.NamespaceOption{
		Network: mode(sb.HostNetwork), Ipc: mode(sb.HostIPC),
		Pid: runtimeapi.NamespaceMode(sb.PIDMode), TargetId: sb.PIDTarget,
		UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE},
	}
	if len(sb.UIDMappings) > 0 {
		o.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: criIDMappings(sb.UIDMappings), Gids: criIDMappings(sb.GIDMappings)}
	}
	return o
}

// criPodStatus is the PodSandboxStatus form of a pod.
func criPodStatus(sb *sandbox.Sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id: sb.ID, Metadata: podMetadata(sb), State: podState(sb.State),
		CreatedAt: sb.CreatedAt.UnixNano(), Labels: sb.Labels, Annotations: sb.Annotations,
		RuntimeHandler: sb.RuntimeHandler,
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Linux: &runtimeapi.LinuxPodSandboxStatus{
			Namespaces: &runtimeapi.Namespace{Options: criNamespaceOptions(sb)},
		},
	}
	if len(sb.IPs) > 0 {
		st.Network.Ip = sb.IPs[0]
		for _, ip := range sb.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// podMatches applies a ListPodSandbox filter: id (exact or prefix, like containerd), state,
// and every label of the selector.
func podMatches(sb *sandbox.Sandbox, f *runtimeapi.PodSandboxFilter) bool {
	if f == nil {
		return true
	}
	if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
		return false
	}
	if f.GetState() != nil && f.GetState().GetState() != podState(sb.State) {
		return false
	}
	for k, v := range f.GetLabelSelector() {
		if got, ok := sb.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
