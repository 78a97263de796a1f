package sandbox

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/crishim/crishim/internal/errdefs"
)

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

// validate checks a PodConfig before anything is created; every error names the field.
func (m *Manager) validate(c *PodConfig) error {
	var errs []error
	errs = append(errs, validName("metadata.name", c.Name), validName("metadata.namespace", c.Namespace),
		validName("metadata.uid", c.UID), validMetadataSize(c.Labels, c.Annotations))
	if !m.knownHandler(c.RuntimeHandler) {
		errs = append(errs, invalid("runtime_handler %q: unknown handler", c.RuntimeHandler))
	}
	if c.CgroupParent != "" && (!path.IsAbs(c.CgroupParent) || path.Clean(c.CgroupParent) == "/" ||
		strings.Contains(c.CgroupParent, "..")) {
		errs = append(errs, invalid("linux.cgroup_parent %q: must be an absolute cgroupfs path below /", c.CgroupParent))
	}
	if c.LogDirectory != "" && !path.IsAbs(c.LogDirectory) {
		errs = append(errs, invalid("log_directory %q: must be absolute", c.LogDirectory))
	}
	if strings.ContainsAny(c.Hostname, "/\x00\n") || len(c.Hostname) > 64 {
		errs = append(errs, invalid("hostname %q: not a valid hostname", c.Hostname))
	}
	errs = append(errs, validateNamespaces(&c.Namespaces)...)
	errs = append(errs, validateSysctls(c.Sysctls, c.Namespaces)...)
	for i, p := range c.PortMappings {
		if p.ContainerPort <= 0 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			errs = append(errs, invalid("port_mappings[%d]: port out of range", i))
		}
	}
	return errors.Join(errs...)
}

// MaxMetadataBytes bounds the labels plus annotations of a pod (keys and values): Kubernetes'
// own limit on an object's annotations (TotalAnnotationSizeLimitB), so no real pod is refused.
const MaxMetadataBytes = 256 << 10

// validName checks a required metadata field: not empty, at most 253 bytes (a DNS subdomain,
// Kubernetes' longest name), not "." or "..", no '/', space or control character. Such a name
// is safe as a path component and as a part of a '/'-joined key (see nameKey).
func validName(field, v string) error {
	switch {
	case v == "":
		return invalid("%s: must not be empty", field)
	case len(v) > 253:
		return invalid("%s: %d bytes, at most 253 allowed", field, len(v))
	case v == "." || v == "..":
		return invalid("%s %q: not a valid name", field, v)
	case strings.ContainsFunc(v, func(r rune) bool { return r == '/' || r <= ' ' || r == 0x7f }):
		return invalid("%s %q: must not contain '/', spaces or control characters", field, v)
	}
	return nil
}

// validMetadataSize bounds labels plus annotations to MaxMetadataBytes.
func validMetadataSize(labels, annotations map[string]string) error {
	n := 0
	for _, m := range []map[string]string{labels, annotations} {
		for k, v := range m {
			n += len(k) + len(v)
		}
	}
	if n > MaxMetadataBytes {
		return invalid("labels and annotations: %d bytes in total, at most %d allowed", n, MaxMetadataBytes)
	}
	return nil
}

func validateNamespaces(n *NamespaceOptions) []error {
	var errs []error
	if n.Network != NamespaceModePod && n.Network != NamespaceModeNode {
		errs = append(errs, invalid("linux.security_context.namespace_options.network: mode %d not supported for a pod", n.Network))
	}
	if n.IPC != NamespaceModePod && n.IPC != NamespaceModeNode {
		errs = append(errs, invalid("linux.security_context.namespace_options.ipc: mode %d not supported for a pod", n.IPC))
	}
	switch n.PID {
	case NamespaceModePod, NamespaceModeContainer, NamespaceModeNode:
	case NamespaceModeTarget:
		if n.TargetID == "" {
			errs = append(errs, invalid("linux.security_context.namespace_options.target_id: required with pid mode TARGET"))
		}
	default:
		errs = append(errs, invalid("linux.security_context.namespace_options.pid: unknown mode %d", n.PID))
	}
	if u := n.UserNS; u != nil {
		switch u.Mode {
		case NamespaceModeNode:
			if len(u.UIDs)+len(u.GIDs) > 0 {
				errs = append(errs, invalid("namespace_options.userns_options: mappings given with mode NODE"))
			}
		case NamespaceModePod:
			if len(u.UIDs) == 0 || len(u.GIDs) == 0 {
				errs = append(errs, invalid("namespace_options.userns_options: mode POD needs uid and gid mappings"))
			}
			if n.Network == NamespaceModeNode || n.IPC == NamespaceModeNode || n.PID == NamespaceModeNode {
				errs = append(errs, invalid("namespace_options.userns_options: a user namespace cannot be combined with host network, IPC or PID"))
			}
			errs = append(errs, validateMappings("uids", u.UIDs)...)
			errs = append(errs, validateMappings("gids", u.GIDs)...)
		default:
			errs = append(errs, invalid("namespace_options.userns_options.mode: mode %d not supported", u.Mode))
		}
	}
	return errs
}

// validateMappings checks one side of a pod user namespace: like kubelet and the other
// runtimes, crishim takes exactly one mapping range, and it must map container id 0 (a pod
// whose root is unmapped cannot run its infra or set up its mounts).
func validateMappings(field string, ms []IDMapping) []error {
	var errs []error
	if len(ms) > 1 {
		errs = append(errs, invalid("namespace_options.userns_options.%s: %d mappings given, exactly one is supported", field, len(ms)))
	}
	for _, m := range ms {
		if m.Size == 0 {
			errs = append(errs, invalid("namespace_options.userns_options.%s: mapping of size 0", field))
		}
		if m.ContainerID != 0 {
			errs = append(errs, invalid("namespace_options.userns_options.%s: container id 0 is not mapped (mapping starts at %d)", field, m.ContainerID))
		}
	}
	return errs
}

// ipcSysctl reports whether a sysctl belongs to the IPC namespace.
func ipcSysctl(name string) bool {
	return strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") ||
		name == "kernel.sem" || strings.HasPrefix(name, "fs.mqueue.")
}

// validateSysctls accepts only namespaced sysctls, and only when the pod owns the namespace:
// net.* needs a pod network namespace, the IPC ones a pod IPC namespace. They are not applied
// here: the runtime writes them into every container's OCI spec.
func validateSysctls(s map[string]string, n NamespaceOptions) []error {
	var errs []error
	for k := range s {
		name := strings.ReplaceAll(k, "/", ".")
		switch {
		case strings.HasPrefix(name, "net."):
			if n.Network == NamespaceModeNode {
				errs = append(errs, invalid("linux.sysctls %q: not allowed with host network", k))
			}
		case ipcSysctl(name):
			if n.IPC == NamespaceModeNode {
				errs = append(errs, invalid("linux.sysctls %q: not allowed with host IPC", k))
			}
		default:
			errs = append(errs, invalid("linux.sysctls %q: not a namespaced sysctl", k))
		}
	}
	return errs
}
