package cri

import (
	"fmt"
	"path/filepath"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// securityFromCRI converts the container security context. Pod-level run_as_*,
// supplemental groups and readonly_rootfs in the sandbox config are for the sandbox itself
// (CRI): kubelet already merged the pod's security context into each container's, so only
// privileged is checked against the pod.
func securityFromCRI(sc *runtimeapi.LinuxContainerSecurityContext, pod sandbox.Sandbox) (runtime.Security, error) {
	sec := runtime.Security{
		Privileged:         sc.GetPrivileged(),
		CapAdd:             sc.GetCapabilities().GetAddCapabilities(),
		CapDrop:            sc.GetCapabilities().GetDropCapabilities(),
		NoNewPrivs:         sc.GetNoNewPrivs(),
		RunAsUsername:      sc.GetRunAsUsername(),
		SupplementalGroups: sc.GetSupplementalGroups(),
		ReadOnlyRootfs:     sc.GetReadonlyRootfs(),
	}
	if sec.Privileged && !pod.Privileged {
		return sec, fmt.Errorf("security_context.privileged: no privileged container allowed in non-privileged sandbox %q: %w", pod.ID, errdefs.ErrInvalidArgument)
	}
	if len(sc.GetCapabilities().GetAddAmbientCapabilities()) > 0 {
		return sec, fmt.Errorf("security_context.capabilities.add_ambient_capabilities: ambient capabilities are not supported: %w", errdefs.ErrNotImplemented)
	}
	if p := sc.GetMaskedPaths(); len(p) > 0 {
		sec.MaskedPaths = p
	}
	if p := sc.GetReadonlyPaths(); len(p) > 0 {
		sec.ReadonlyPaths = p
	}
	if err := userFromCRI(sc, &sec); err != nil {
		return sec, err
	}
	switch sc.GetSupplementalGroupsPolicy() {
	case runtimeapi.SupplementalGroupsPolicy_Merge:
		sec.SupplementalGroupsPolicy = runtime.SupplementalGroupsMerge
	case runtimeapi.SupplementalGroupsPolicy_Strict:
		sec.SupplementalGroupsPolicy = runtime.SupplementalGroupsStrict
	default:
		return sec, fmt.Errorf("security_context.supplemental_groups_policy %v: unknown policy: %w", sc.GetSupplementalGroupsPolicy(), errdefs.ErrInvalidArgument)
	}
	var err error
	if sec.Seccomp, err = seccompFromCRI(sc); err != nil {
		return sec, err
	}
	if err := checkAppArmor(sc); err != nil {
		return sec, err
	}
	return sec, nil
}

// userFromCRI sets RunAsUser and RunAsGroup. A group without a user (uid or name) is an
// error, like containerd: the image user's primary group would be silently replaced.
func userFromCRI(sc *runtimeapi.LinuxContainerSecurityContext, sec *runtime.Security) error {
	if u := sc.GetRunAsUser(); u != nil {
		if u.GetValue() < 0 {
			return fmt.Errorf("security_context.run_as_user %d: must not be negative: %w", u.GetValue(), errdefs.ErrInvalidArgument)
		}
		v := u.GetValue()
		sec.RunAsUser = &v
	}
	if g := sc.GetRunAsGroup(); g != nil {
		if g.GetValue() < 0 {
			return fmt.Errorf("security_context.run_as_group %d: must not be negative: %w", g.GetValue(), errdefs.ErrInvalidArgument)
		}
		if sec.RunAsUser == nil && sec.RunAsUsername == "" {
			return fmt.Errorf("security_context.run_as_group %d: a group is specified without run_as_user or run_as_username: %w", g.GetValue(), errdefs.ErrInvalidArgument)
		}
		v := g.GetValue()
		sec.RunAsGroup = &v
	}
	for i, g := range sec.SupplementalGroups {
		if g < 0 {
			return fmt.Errorf("security_context.supplemental_groups[%d] %d: must not be negative: %w", i, g, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// seccompFromCRI reads the seccomp field, falling back to the deprecated
// seccomp_profile_path ("", "unconfined", "runtime/default", "docker/default",
// "localhost/<abs path>"). Nothing asked means unconfined (the CRI default).
func seccompFromCRI(sc *runtimeapi.LinuxContainerSecurityContext) (runtime.Seccomp, error) {
	if p := sc.GetSeccomp(); p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return runtime.Seccomp{Type: runtime.SeccompRuntimeDefault}, nil
		case runtimeapi.SecurityProfile_Unconfined:
			return runtime.Seccomp{Type: runtime.SeccompUnconfined}, nil
		case runtimeapi.SecurityProfile_Localhost:
			return localhostSeccomp("security_context.seccomp.localhost_ref", p.GetLocalhostRef())
		}
		return runtime.Seccomp{}, fmt.Errorf("security_context.seccomp.profile_type %v: unknown profile type: %w", p.GetProfileType(), errdefs.ErrInvalidArgument)
	}
	switch path := sc.GetSeccompProfilePath(); {
	case path == "" || path == "unconfined":
		return runtime.Seccomp{Type: runtime.SeccompUnconfined}, nil
	case path == "runtime/default" || path == "docker/default":
		return runtime.Seccomp{Type: runtime.SeccompRuntimeDefault}, nil
	case strings.HasPrefix(path, "localhost/"):
		return localhostSeccomp("security_context.seccomp_profile_path", strings.TrimPrefix(path, "localhost/"))
	default:
		return runtime.Seccomp{}, fmt.Errorf("security_context.seccomp_profile_path %q: unknown seccomp profile: %w", path, errdefs.ErrInvalidArgument)
	}
}

func localhostSeccomp(field, path string) (runtime.Seccomp, error) {
	if !filepath.IsAbs(path) {
		return runtime.Seccomp{}, fmt.Errorf("%s %q: must be an absolute path of a profile on the node: %w", field, path, errdefs.ErrInvalidArgument)
	}
	return runtime.Seccomp{Type: runtime.SeccompLocalhost, LocalhostPath: filepath.Clean(path)}, nil
}

// checkAppArmor rejects any AppArmor profile but unconfined: AppArmor is not available to
// crishim, and silently running a container without the confinement it asked for would be
// worse than failing (containerd does the same on hosts without AppArmor).
func checkAppArmor(sc *runtimeapi.LinuxContainerSecurityContext) error {
	if p := sc.GetApparmor(); p != nil {
		if p.GetProfileType() == runtimeapi.SecurityProfile_Unconfined {
			return nil
		}
		return fmt.Errorf("security_context.apparmor %v: AppArmor is not available on this host: %w", p.GetProfileType(), errdefs.ErrFailedPrecondition)
	}
	switch p := sc.GetApparmorProfile(); p {
	case "", "unconfined":
		return nil
	default:
		return fmt.Errorf("security_context.apparmor_profile %q: AppArmor is not available on this host: %w", p, errdefs.ErrFailedPrecondition)
	}
}
