package runtime

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crishim/crishim/internal/errdefs"
)

// hostInfo is what spec generation needs to know about the daemon's host.
type hostInfo struct {
	// Caps are the capabilities the daemon has (its bounding set); "ALL" means these.
	Caps []string
	// OOMScoreAdj is the daemon's own oom_score_adj.
	OOMScoreAdj int
	// RestrictOOM clamps requested values below OOMScoreAdj.
	RestrictOOM bool
	// CgroupV2 is true on a unified (v2-only) hierarchy.
	CgroupV2 bool
	// NoFileHard is the daemon's hard RLIMIT_NOFILE: containers cannot get more without
	// CAP_SYS_RESOURCE.
	NoFileHard uint64
}

// specInput is everything buildSpec needs: the request and what Create resolved.
type specInput struct {
	Spec        ContainerSpec
	RootfsPath  string
	User        User
	Args        []string
	Env         []string
	Cwd         string
	CgroupsPath string
	PIDTargetNS string // /proc/<pid>/ns/pid of the target container (PIDModeTarget)
	Host        hostInfo
	// Hugetlb is true when the container's cgroup can take hugepage limits (the hugetlb
	// controller exists); without it they are dropped.
	Hugetlb bool
}

// buildSpec turns a container request into an OCI runtime spec. It is pure: everything from
// the host comes in through in.
func buildSpec(in specInput) (*specs.Spec, error) {
	cs := in.Spec
	sec := cs.Security
	s := &specs.Spec{
		Version:     specs.Version,
		Root:        &specs.Root{Path: in.RootfsPath, Readonly: sec.ReadOnlyRootfs},
		Annotations: map[string]string{},
		Process: &specs.Process{
			Terminal: cs.TTY,
			Args:     in.Args,
			Env:      in.Env,
			Cwd:      in.Cwd,
			User: specs.User{
				UID: in.User.UID, GID: in.User.GID,
				AdditionalGids: in.User.SupplementalGroups,
			},
			NoNewPrivileges: sec.NoNewPrivs && !sec.Privileged,
		},
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			Sysctl:      map[string]string{},
		},
	}
	if n := min(in.Host.NoFileHard, 1048576); n > 0 {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: n, Soft: n}}
	}
	for k, v := range cs.Annotations {
		s.Annotations[k] = v
	}
	for k, v := range cs.Pod.Sysctls {
		s.Linux.Sysctl[k] = v
	}
	caps, err := capabilitySet(sec, in.Host.Caps)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}
	oom := int(cs.Resources.OOMScoreAdj)
	if in.Host.RestrictOOM && oom < in.Host.OOMScoreAdj {
		oom = in.Host.OOMScoreAdj
	}
	s.Process.OOMScoreAdj = &oom

	ns, err := namespaces(cs, in.PIDTargetNS, in.Host.CgroupV2)
	if err != nil {
		return nil, err
	}
	s.Linux.Namespaces = ns
	if cs.Pod.UserNSPath == "" && (len(cs.Pod.UIDMappings) > 0 || len(cs.Pod.GIDMappings) > 0) {
		// Joining a user namespace by path takes its mappings from it (runc rejects both).
		s.Linux.UIDMappings = specIDMappings(cs.Pod.UIDMappings)
		s.Linux.GIDMappings = specIDMappings(cs.Pod.GIDMappings)
	}
	s.Mounts = buildMounts(cs, in.Host)
	s.Linux.RootfsPropagation = rootfsPropagation(cs.Mounts)
	if !sec.Privileged {
		s.Linux.MaskedPaths = defaultIfNil(sec.MaskedPaths, defaultMaskedPaths)
		s.Linux.ReadonlyPaths = defaultIfNil(sec.ReadonlyPaths, defaultReadonlyPaths)
	}
	if err := applySeccomp(s, sec); err != nil {
		return nil, err
	}
	if err := applyDevices(s, cs); err != nil {
		return nil, err
	}
	s.Linux.Resources = linuxResources(cs.Resources, in.Host.CgroupV2, in.Hugetlb, s.Linux.Resources)
	return s, nil
}

func defaultIfNil(v, def []string) []string {
	if v == nil {
		return slices.Clone(def)
	}
	return slices.Clone(v)
}

func specIDMappings(m []IDMapping) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, 0, len(m))
	for _, x := range m {
		out = append(out, specs.LinuxIDMapping{ContainerID: x.ContainerID, HostID: x.HostID, Size: x.Size})
	}
	return out
}

// namespaces returns the namespace list: mount always new; net/ipc/uts joined from the pod
// (or the host's when the pod uses the host's); pid per PIDMode; user when mapped.
func namespaces(cs ContainerSpec, targetNS string, cgroupNS bool) ([]specs.LinuxNamespace, error) {
	p := cs.Pod
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	join := func(t specs.LinuxNamespaceType, host bool, path, what string) error {
		switch {
		case host:
			return nil
		case path != "":
			ns = append(ns, specs.LinuxNamespace{Type: t, Path: path})
			return nil
		default:
			return fmt.Errorf("pod %q has no %s namespace path and does not use the host's: %w", cs.PodID, what, errdefs.ErrInvalidArgument)
		}
	}
	if err := join(specs.NetworkNamespace, p.HostNetwork, p.NetNSPath, "network"); err != nil {
		return nil, err
	}
	if err := join(specs.IPCNamespace, p.HostIPC, p.IPCNSPath, "ipc"); err != nil {
		return nil, err
	}
	if err := join(specs.UTSNamespace, p.HostNetwork, p.UTSNSPath, "uts"); err != nil {
		return nil, err
	}
	switch {
	case p.HostPID || p.PIDMode == PIDModeNode:
	case p.PIDMode == PIDModeContainer:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case p.PIDMode == PIDModePod:
		if p.PIDNSPath == "" {
			return nil, fmt.Errorf("pod %q: pid mode POD without an infra pid namespace: %w", cs.PodID, errdefs.ErrInvalidArgument)
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: p.PIDNSPath})
	case p.PIDMode == PIDModeTarget:
		if targetNS == "" {
			return nil, fmt.Errorf("pid namespace target %q is not running: %w", p.PIDTarget, errdefs.ErrFailedPrecondition)
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: targetNS})
	default:
		return nil, fmt.Errorf("pid mode %d: %w", p.PIDMode, errdefs.ErrInvalidArgument)
	}
	switch {
	case p.UserNSPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace, Path: p.UserNSPath})
	case len(p.UIDMappings) > 0:
		ns = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
	}
	if cgroupNS {
		// A private cgroup namespace on a unified hierarchy, like containerd.
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns, nil
}

// cleanDest returns the clean absolute destination or an error naming it.
func cleanDest(d string) (string, error) {
	if d == "" || !path.IsAbs(d) {
		return "", fmt.Errorf("mount destination %q: must be an absolute path: %w", d, errdefs.ErrInvalidArgument)
	}
	return path.Clean(d), nil
}

// envName returns the variable name of a "K=V" entry.
func envName(kv string) string {
	if i := strings.IndexByte(kv, '='); i >= 0 {
		return kv[:i]
	}
	return kv
}
