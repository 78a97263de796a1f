package sandbox

import (
	"context"
	"time"
)

// State is the lifecycle state of a pod sandbox as CRI reports it.
type State int

const (
	// StateReady means the pod's namespaces (and infra process, if any) are up.
	StateReady State = iota
	// StateNotReady means the pod was stopped, or its infra process died.
	StateNotReady
)

// String returns the state's CRI-like name.
func (s State) String() string {
	if s == StateReady {
		return "ready"
	}
	return "notready"
}

// NamespaceMode says which namespace a pod or its containers use; the values mirror CRI's
// NamespaceMode (POD=0, CONTAINER=1, NODE=2, TARGET=3).
type NamespaceMode int

const (
	// NamespaceModePod shares one namespace between all containers of the pod.
	NamespaceModePod NamespaceMode = iota
	// NamespaceModeContainer gives each container its own namespace.
	NamespaceModeContainer
	// NamespaceModeNode uses the host's namespace.
	NamespaceModeNode
	// NamespaceModeTarget joins the namespace of another container (PID only).
	NamespaceModeTarget
)

// PIDMode is the pod's PID namespace mode.
type PIDMode = NamespaceMode

// PID namespace modes, named as the pods contract spells them.
const (
	PIDModePod       = NamespaceModePod
	PIDModeContainer = NamespaceModeContainer
	PIDModeNode      = NamespaceModeNode
	PIDModeTarget    = NamespaceModeTarget
)

// IDMapping is one range of a user namespace mapping.
type IDMapping struct {
	ContainerID, HostID, Size uint32
}

// rootHostID returns the host id that id 0 maps to, or -1 without a mapping of 0.
func rootHostID(ms []IDMapping) int {
	for _, m := range ms {
		if m.ContainerID == 0 && m.Size > 0 {
			return int(m.HostID)
		}
	}
	return -1
}

// Sandbox is what Get and List return: a copy of a pod's record, safe to read.
type Sandbox struct {
	ID, Name, Namespace, UID string
	// RequestHash is PodConfig.RequestHash as created ("" = unknown).
	RequestHash            string `json:",omitempty"`
	Attempt                uint32
	State                  State
	CreatedAt              time.Time
	Labels, Annotations    map[string]string
	RuntimeHandler         string
	Hostname, LogDirectory string
	HostNetwork, HostIPC   bool
	HostPID                bool
	// NetNSPath, IPCNSPath and UTSNSPath are the pinned namespace files; "" when the pod uses
	// the host's namespace.
	NetNSPath, IPCNSPath, UTSNSPath string
	PIDMode                         PIDMode
	// PIDTarget is the container id whose PID namespace the pod joins (PIDModeTarget).
	PIDTarget string
	// PIDNSPath is "/proc/<infra pid>/ns/pid" when PIDModePod, else "".
	PIDNSPath string
	// CgroupParent is the pod cgroup (cgroupfs path); containers go below it.
	CgroupParent string
	// HostsPath, ResolvPath, HostnamePath and ShmPath are per-pod files; ShmPath is "" with
	// host IPC.
	HostsPath, ResolvPath, HostnamePath, ShmPath string
	// Sysctls are namespaced sysctls; the runtime applies them to every container.
	Sysctls map[string]string
	// IPs are the pod IPs, primary first.
	IPs []string
	// Pod-level security context defaults.
	Privileged            bool
	RunAsUser, RunAsGroup *int64
	SupplementalGroups    []int64
	ReadOnlyRootfs        bool
	// UIDMappings and GIDMappings describe the pod user namespace when one was requested.
	UIDMappings, GIDMappings []IDMapping
	// UserNSPath is the pinned pod user namespace (it owns the pod's net, ipc, uts and pid
	// namespaces); "" without a pod user namespace. Containers join it.
	UserNSPath string
	// PortMappings and DNS are what the pod asked of the network.
	PortMappings []PortMapping
	DNS          *DNSConfig
	// Overhead and Resources are the pod-level resources applied to the pod cgroup.
	Overhead, Resources *Resources
	// InfraPID is the host pid of the infra process (PIDModePod), else 0.
	InfraPID int
}

// Containers is what the sandbox package needs from the container runtime.
type Containers interface {
	// StopPodContainers stops every container of the pod (timeout 0 = kill); idempotent.
	StopPodContainers(ctx context.Context, podID string) error
	// RemovePodContainers removes every container of the pod and its monitor; idempotent.
	RemovePodContainers(ctx context.Context, podID string) error
}

// PodPreparer is implemented by a Containers that can get ready for a pod's containers
// before the first one is created (the runtime starts the pod's monitor): RunPodSandbox
// calls it concurrently with the pod's namespaces and network setup. RemovePodContainers
// releases what it prepared.
type PodPreparer interface {
	PreparePod(ctx context.Context, podID string) error
}

// Network is what the sandbox package needs from the pod network (CNI).
type Network interface {
	// Setup attaches the pod's netns to the network and returns its IPs, primary first.
	Setup(ctx context.Context, pod NetworkPod) (ips []string, err error)
	// Teardown detaches the pod; it must succeed when the netns is already gone.
	Teardown(ctx context.Context, pod NetworkPod) error
	// Status reports whether the network is usable.
	Status(ctx context.Context) error
}

// NetworkPod is what the network needs to know about a pod.
type NetworkPod struct {
	ID, Name, Namespace, UID, NetNSPath, CgroupParent string
	PortMappings                                      []PortMapping
	DNS                                               *DNSConfig
}

// PortMapping maps a host port to a container port.
type PortMapping struct {
	Protocol                string
	ContainerPort, HostPort int32
	HostIP                  string
}

// DNSConfig is the pod's resolver configuration.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// Resources are pod-level cgroup limits (CRI's LinuxContainerResources subset that makes
// sense for a pod cgroup).
type Resources struct {
	CPUPeriod, CPUQuota, CPUShares int64
	MemoryLimitBytes               int64
	CpusetCpus, CpusetMems         string
	Unified                        map[string]string
}

// SecurityContext is the pod-level security context.
type SecurityContext struct {
	Privileged            bool
	RunAsUser, RunAsGroup *int64
	SupplementalGroups    []int64
	ReadOnlyRootfs        bool
}

// UserNamespace is the pod's user namespace request.
type UserNamespace struct {
	Mode       NamespaceMode // NamespaceModeNode (default) or NamespaceModePod
	UIDs, GIDs []IDMapping
}

// NamespaceOptions are the pod's namespace modes.
type NamespaceOptions struct {
	Network, PID, IPC NamespaceMode
	TargetID          string
	UserNS            *UserNamespace
}

// PodConfig is what RunPodSandbox asks for, free of CRI types.
type PodConfig struct {
	Name, Namespace, UID string
	Attempt              uint32
	Hostname             string
	LogDirectory         string
	DNS                  *DNSConfig
	PortMappings         []PortMapping
	Labels, Annotations  map[string]string
	RuntimeHandler       string
	CgroupParent         string
	Sysctls              map[string]string
	Namespaces           NamespaceOptions
	Security             SecurityContext
	Overhead, Resources  *Resources
	// RequestHash identifies the request (set by the caller); a Run whose name is held by a
	// pod created from the same request (a retry, even after a daemon restart) gets that pod.
	RequestHash string
}
