package runtime

import "syscall"

// ContainerSpec is everything needed to create a container. It is independent of CRI types:
// the cri package fills it from the CRI request, the pod record and the image config.
//
// Image defaults are given separately in Image.Config and merged by the runtime (Kubernetes
// rules: Command replaces the image Entrypoint and drops its Cmd; Args replace Cmd; Env
// entries override image entries of the same name; WorkingDir and User fall back to the
// image's; StopSignal falls back to the image's, then SIGTERM).
type ContainerSpec struct {
	// ID is the container id (64 hex characters when generated). Empty: Create generates one.
	ID string
	// PodID is the id of the pod sandbox the container belongs to (required).
	PodID string
	// Name and Attempt are the CRI metadata; (PodID, Name, Attempt) is unique.
	Name    string
	Attempt uint32
	// Labels and Annotations are kept verbatim and reported in Status.
	Labels      map[string]string
	Annotations map[string]string

	// Image is the image the rootfs comes from.
	Image Image

	// Command, Args, Env ("K=V"), WorkingDir as given by the user (before image defaults).
	Command    []string
	Args       []string
	Env        []string
	WorkingDir string

	// Mounts are extra mounts (volumes, kubelet files) in the order given.
	Mounts []ContainerMount
	// Devices are host devices made available in the container.
	Devices []Device

	// TTY allocates a pseudo terminal (stdout and stderr then both go to stdout).
	TTY bool
	// Stdin keeps a stdin pipe open for attach; StdinOnce closes it after the first attach
	// session ends.
	Stdin     bool
	StdinOnce bool

	// LogPath is the absolute path of the CRI log file; "" discards the output.
	LogPath string
	// LogDirectory is the pod's log directory: LogPath must lie under it, and the log file and
	// its directories are created and reopened beneath it, never through a symlink. "" =
	// LogPath's own directory.
	LogDirectory string `json:",omitempty"`

	// Security is the container's security context (pod defaults already applied by cri).
	Security Security
	// Resources are the container's cgroup limits and oom_score_adj.
	Resources Resources
	// StopSignal overrides the image's stop signal; 0 means "image's or SIGTERM".
	StopSignal syscall.Signal

	// Pod is what the container needs from its pod sandbox.
	Pod PodSpec

	// RequestHash identifies the request that created the container (set by the caller,
	// persisted and reported in Status) so that a retry of the same request after a daemon
	// restart can be recognised.
	RequestHash string `json:",omitempty"`
}

// Image names the image of a container.
type Image struct {
	// Ref is the reference the user gave (e.g. "busybox:1.36"), reported back in status.
	Ref string
	// ID is the resolved image id (config digest); it is the key for Rootfs.PrepareRootfs.
	ID string
	// Config holds the defaults taken from the image configuration.
	Config ImageConfig
}

// ImageConfig is the part of an OCI image configuration that provides container defaults.
type ImageConfig struct {
	User       string
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	StopSignal string // e.g. "SIGQUIT" or "3"; "" = SIGTERM
}

// Propagation is the mount propagation of a ContainerMount.
type Propagation int

// Mount propagation modes (CRI MountPropagation).
const (
	PropagationPrivate         Propagation = iota // rprivate
	PropagationHostToContainer                    // rslave
	PropagationBidirectional                      // rshared
)

// ContainerMount is a bind mount of a host path (or of an image, for image volumes).
type ContainerMount struct {
	// Source is the host path; ignored when ImageID is set.
	Source string
	// Destination is the absolute path in the container.
	Destination string
	// Readonly mounts read-only; RecursiveReadOnly also makes every submount read-only.
	Readonly          bool
	RecursiveReadOnly bool
	Propagation       Propagation
	// UIDMappings / GIDMappings make the mount idmapped (user-namespaced pods).
	UIDMappings []IDMapping
	GIDMappings []IDMapping
	// ImageID, when set, mounts the given image read-only at Destination (image volume);
	// ImageRef is reported back in status.
	ImageID  string
	ImageRef string
}

// IDMapping maps Size ids starting at ContainerID to the host ids starting at HostID.
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

// Device is a host device node made available in the container.
type Device struct {
	HostPath      string
	ContainerPath string
	Permissions   string // any of "rwm"; "" = "rwm"
}

// SeccompType selects the seccomp profile kind.
type SeccompType int

// Seccomp profile kinds.
const (
	SeccompUnconfined     SeccompType = iota // no filter (CRI default when nothing is asked)
	SeccompRuntimeDefault                    // the built-in default profile
	SeccompLocalhost                         // an OCI seccomp JSON file on the node
)

// Seccomp selects the seccomp profile of a container.
type Seccomp struct {
	Type SeccompType
	// LocalhostPath is the absolute path of the profile file when Type is SeccompLocalhost.
	LocalhostPath string
}

// SupplementalGroupsPolicy tells how supplemental groups are computed.
type SupplementalGroupsPolicy int

// Supplemental groups policies (CRI SupplementalGroupsPolicy).
const (
	// SupplementalGroupsMerge adds the groups the user belongs to in the image's /etc/group.
	SupplementalGroupsMerge SupplementalGroupsPolicy = iota
	// SupplementalGroupsStrict uses only RunAsGroup/primary group and SupplementalGroups.
	SupplementalGroupsStrict
)

// Security is the security context of a container.
type Security struct {
	// Privileged: every capability the daemon has, all devices, no masked/readonly paths,
	// seccomp unconfined, /sys and /proc/sys writable.
	Privileged bool
	// CapAdd and CapDrop name capabilities ("CAP_NET_ADMIN" or "NET_ADMIN"; "ALL").
	CapAdd  []string
	CapDrop []string
	Seccomp Seccomp
	// NoNewPrivs sets no_new_privs.
	NoNewPrivs bool
	// MaskedPaths / ReadonlyPaths: nil = the built-in defaults; non-nil (even empty) = exactly
	// these. Ignored (none) for privileged containers.
	MaskedPaths   []string
	ReadonlyPaths []string
	// RunAsUser / RunAsGroup override the image user; RunAsUsername is resolved through the
	// container's /etc/passwd. Precedence: RunAsUser, RunAsUsername, image user, root.
	RunAsUser     *int64
	RunAsGroup    *int64
	RunAsUsername string
	// SupplementalGroups are added to the process; the policy says whether /etc/group
	// memberships are merged in.
	SupplementalGroups       []int64
	SupplementalGroupsPolicy SupplementalGroupsPolicy
	// ReadOnlyRootfs mounts the root filesystem read-only.
	ReadOnlyRootfs bool
	// ApparmorProfile and SELinuxLabel are accepted and ignored (not available here).
	ApparmorProfile string
	SELinuxLabel    string
}

// HugepageLimit limits one huge page size ("2MB", "1GB").
type HugepageLimit struct {
	PageSize string
	Limit    uint64
}

// Resources are the cgroup limits of a container. Zero values mean "no limit / default".
type Resources struct {
	CPUShares              int64
	CPUQuota               int64
	CPUPeriod              int64
	CpusetCpus             string
	CpusetMems             string
	MemoryLimitInBytes     int64
	MemorySwapLimitInBytes int64
	HugepageLimits         []HugepageLimit
	PidsLimit              int64
	// Unified holds cgroup v2 key/values (ignored on cgroup v1).
	Unified map[string]string
	// OOMScoreAdj is clamped to the daemon's own when Config.RestrictOOMScoreAdj is set.
	OOMScoreAdj int64
}

// PIDMode is the PID namespace mode of a container.
type PIDMode int

// PID namespace modes (CRI NamespaceMode for pid).
const (
	PIDModeContainer PIDMode = iota // a new PID namespace for the container
	PIDModePod                      // the pod's (PodSpec.PIDNSPath, the infra process's)
	PIDModeNode                     // the host's
	PIDModeTarget                   // the one of the container PodSpec.PIDTarget
)

// PodSpec is what a container needs from its pod. The cri layer copies it from the sandbox
// record. Namespace paths are pinned namespace files; "" with the Host flag = the host's.
type PodSpec struct {
	NetNSPath   string
	IPCNSPath   string
	UTSNSPath   string
	HostNetwork bool
	HostIPC     bool
	HostPID     bool
	PIDMode     PIDMode
	// PIDNSPath is the infra process's pid ns ("/proc/<pid>/ns/pid") for PIDModePod.
	PIDNSPath string
	// PIDTarget is the container id whose pid namespace is joined for PIDModeTarget.
	PIDTarget string
	// CgroupParent is the pod cgroup; the container cgroup is CgroupParent/<container id>.
	// "" = Config.CgroupParent.
	CgroupParent string
	// Per-pod files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm
	// ("" = not mounted: /dev/shm is then a private tmpfs).
	HostsPath    string
	ResolvPath   string
	HostnamePath string
	ShmPath      string
	// Hostname is exported as HOSTNAME (the uts namespace already carries it).
	Hostname string
	// Sysctls are namespaced sysctls applied to the container.
	Sysctls map[string]string
	// UIDMappings / GIDMappings: a user namespace with these mappings (user-namespaced pod).
	UIDMappings []IDMapping
	GIDMappings []IDMapping
	// UserNSPath joins an existing user namespace instead of creating one ("" = none/new).
	UserNSPath string
	// RuntimeHandler is the pod's runtime handler ("" = Config.DefaultRuntimeHandler).
	RuntimeHandler string
}
