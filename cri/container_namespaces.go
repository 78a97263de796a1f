package cri

import (
	"fmt"
	"maps"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// podSpec copies what a container needs from its pod and applies the container's namespace
// options. Network and IPC always follow the pod: the container may repeat the pod's mode
// (POD, or NODE for a host-namespace pod) but not ask for another one. PID is per container:
// POD = the pod's mode, CONTAINER = a new namespace, NODE = the host's (host-PID pods only),
// TARGET = another container's.
func podSpec(pod sandbox.Sandbox, ns *runtimeapi.NamespaceOption) (runtime.PodSpec, error) {
	ps := runtime.PodSpec{
		NetNSPath:      pod.NetNSPath,
		IPCNSPath:      pod.IPCNSPath,
		UTSNSPath:      pod.UTSNSPath,
		HostNetwork:    pod.HostNetwork,
		HostIPC:        pod.HostIPC,
		HostPID:        pod.HostPID,
		CgroupParent:   pod.CgroupParent,
		HostsPath:      pod.HostsPath,
		ResolvPath:     pod.ResolvPath,
		HostnamePath:   pod.HostnamePath,
		ShmPath:        pod.ShmPath,
		Hostname:       pod.Hostname,
		Sysctls:        maps.Clone(pod.Sysctls),
		UIDMappings:    idMappingsFromPod(pod.UIDMappings),
		GIDMappings:    idMappingsFromPod(pod.GIDMappings),
		UserNSPath:     pod.UserNSPath,
		RuntimeHandler: pod.RuntimeHandler,
	}
	if err := sharedNamespace("network", ns.GetNetwork(), pod.HostNetwork); err != nil {
		return ps, err
	}
	if err := sharedNamespace("ipc", ns.GetIpc(), pod.HostIPC); err != nil {
		return ps, err
	}
	if err := containerUserNS(ns.GetUsernsOptions(), pod); err != nil {
		return ps, err
	}
	mode, err := pidMode(pod, ns)
	if err != nil {
		return ps, err
	}
	ps.PIDMode = mode
	switch mode {
	case runtime.PIDModePod:
		ps.PIDNSPath = pod.PIDNSPath
	case runtime.PIDModeTarget:
		ps.PIDTarget = ns.GetTargetId()
		if ns.GetPid() == runtimeapi.NamespaceMode_POD {
			ps.PIDTarget = pod.PIDTarget
		}
	}
	return ps, nil
}

// sharedNamespace checks a container's network or IPC mode against its pod's.
func sharedNamespace(kind string, mode runtimeapi.NamespaceMode, podHost bool) error {
	switch {
	case mode == runtimeapi.NamespaceMode_POD:
		return nil
	case mode == runtimeapi.NamespaceMode_NODE && podHost:
		return nil
	case mode == runtimeapi.NamespaceMode_NODE:
		return fmt.Errorf("namespace_options.%s NODE: conflicts with the pod, which does not use the host's %s namespace: %w", kind, kind, errdefs.ErrInvalidArgument)
	default:
		return fmt.Errorf("namespace_options.%s %v: a container shares its pod's %s namespace (use POD): %w", kind, mode, kind, errdefs.ErrInvalidArgument)
	}
}

// containerUserNS accepts a container user-namespace option only when it agrees with the
// pod's: containers always run in their pod's user namespace.
func containerUserNS(u *runtimeapi.UserNamespace, pod sandbox.Sandbox) error {
	if u == nil {
		return nil
	}
	podHasUserNS := len(pod.UIDMappings) > 0
	switch u.GetMode() {
	case runtimeapi.NamespaceMode_NODE:
		if podHasUserNS {
			return fmt.Errorf("namespace_options.userns_options.mode NODE: conflicts with the pod's user namespace: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	case runtimeapi.NamespaceMode_POD:
		if !podHasUserNS {
			return fmt.Errorf("namespace_options.userns_options.mode POD: pod %q has no user namespace: %w", pod.ID, errdefs.ErrInvalidArgument)
		}
		return nil
	default:
		return fmt.Errorf("namespace_options.userns_options.mode %v: unsupported for a container (use POD or NODE): %w", u.GetMode(), errdefs.ErrInvalidArgument)
	}
}

// pidMode resolves the container's PID namespace mode.
func pidMode(pod sandbox.Sandbox, ns *runtimeapi.NamespaceOption) (runtime.PIDMode, error) {
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		if pod.HostPID {
			return runtime.PIDModeNode, nil
		}
		return podPIDMode(pod.PIDMode), nil
	case runtimeapi.NamespaceMode_CONTAINER:
		if pod.HostPID {
			return 0, fmt.Errorf("namespace_options.pid CONTAINER: conflicts with the pod, which uses the host's pid namespace: %w", errdefs.ErrInvalidArgument)
		}
		return runtime.PIDModeContainer, nil
	case runtimeapi.NamespaceMode_NODE:
		if !pod.HostPID {
			return 0, fmt.Errorf("namespace_options.pid NODE: conflicts with the pod, which does not use the host's pid namespace: %w", errdefs.ErrInvalidArgument)
		}
		return runtime.PIDModeNode, nil
	case runtimeapi.NamespaceMode_TARGET:
		if ns.GetTargetId() == "" {
			return 0, fmt.Errorf("namespace_options.target_id: required with pid TARGET: %w", errdefs.ErrInvalidArgument)
		}
		if pod.HostPID {
			return 0, fmt.Errorf("namespace_options.pid TARGET: conflicts with the pod, which uses the host's pid namespace: %w", errdefs.ErrInvalidArgument)
		}
		return runtime.PIDModeTarget, nil
	}
	return 0, fmt.Errorf("namespace_options.pid %v: unknown mode: %w", ns.GetPid(), errdefs.ErrInvalidArgument)
}

func podPIDMode(m sandbox.PIDMode) runtime.PIDMode {
	switch m {
	case sandbox.PIDModePod:
		return runtime.PIDModePod
	case sandbox.PIDModeNode:
		return runtime.PIDModeNode
	case sandbox.PIDModeTarget:
		return runtime.PIDModeTarget
	default:
		return runtime.PIDModeContainer
	}
}

func idMappingsFromPod(ms []sandbox.IDMapping) []runtime.IDMapping {
	if len(ms) == 0 {
		return nil
	}
	out := make([]runtime.IDMapping, len(ms))
	for i, m := range ms {
		out[i] = runtime.IDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size}
	}
	return out
}
