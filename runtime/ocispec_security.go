package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/sys/devices"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/fsutil"
)

// defaultCaps is the capability set of an unprivileged container (containerd's).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// defaultMaskedPaths are hidden from unprivileged containers.
var defaultMaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
	"/sys/devices/virtual/powercap", "/proc/scsi",
}

// defaultReadonlyPaths are read-only in unprivileged containers.
var defaultReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// normalizeCap returns "CAP_X" for "x", "X" or "CAP_X".
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// capabilitySet computes the container's capabilities: the defaults (or every capability the
// daemon has when privileged), plus CapAdd, minus CapDrop. "ALL" in CapAdd means every
// capability the daemon has; "ALL" in CapDrop starts from nothing, then CapAdd applies.
func capabilitySet(sec Security, hostCaps []string) ([]string, error) {
	if sec.Privileged {
		return slices.Clone(hostCaps), nil
	}
	has := func(list []string, c string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return normalizeCap(x) == c })
	}
	known := func(c string) error {
		if c == "ALL" || slices.Contains(allCapNames, c) {
			return nil
		}
		return fmt.Errorf("capability %q: unknown: %w", c, errdefs.ErrInvalidArgument)
	}
	var set []string
	if !has(sec.CapDrop, "ALL") {
		for _, c := range defaultCaps {
			if !has(sec.CapDrop, c) {
				set = append(set, c)
			}
		}
	}
	for _, c := range sec.CapDrop {
		if err := known(normalizeCap(c)); err != nil {
			return nil, err
		}
	}
	for _, raw := range sec.CapAdd {
		c := normalizeCap(raw)
		if err := known(c); err != nil {
			return nil, err
		}
		if c == "ALL" {
			for _, hc := range hostCaps {
				if !slices.Contains(set, hc) {
					set = append(set, hc)
				}
			}
			continue
		}
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	return set, nil
}

// applySeccomp sets the seccomp filter. Privileged containers are unconfined.
func applySeccomp(s *specs.Spec, sec Security) error {
	if sec.Privileged {
		return nil
	}
	switch sec.Seccomp.Type {
	case SeccompUnconfined:
		return nil
	case SeccompRuntimeDefault:
		s.Linux.Seccomp = defaultSeccompProfile(s.Process.Capabilities.Bounding)
		return nil
	case SeccompLocalhost:
		p := sec.Seccomp.LocalhostPath
		b, err := readProfile(p)
		if err != nil {
			return fmt.Errorf("seccomp profile %q: %w: %w", p, errdefs.ErrInvalidArgument, err)
		}
		var prof specs.LinuxSeccomp
		if err := json.Unmarshal(b, &prof); err != nil {
			return fmt.Errorf("seccomp profile %q: %w: %w", p, errdefs.ErrInvalidArgument, err)
		}
		s.Linux.Seccomp = &prof
		return nil
	default:
		return fmt.Errorf("seccomp profile type %d: %w", sec.Seccomp.Type, errdefs.ErrInvalidArgument)
	}
}

// applyDevices sets the device nodes and the device cgroup rules: deny all, then allow the
// requested devices (privileged: every host device).
func applyDevices(s *specs.Spec, cs ContainerSpec) error {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	if cs.Security.Privileged {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		hd, err := devices.HostDevices()
		if err != nil {
			return fmt.Errorf("list host devices: %w", err)
		}
		for _, d := range hd {
			s.Linux.Devices = append(s.Linux.Devices, specDevice(d.Path, d.Path, d))
		}
		return nil
	}
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for _, dv := range cs.Devices {
		perms := dv.Permissions
		if perms == "" {
			perms = "rwm"
		}
		d, err := devices.DeviceFromPath(dv.HostPath, perms)
		if err != nil {
			return fmt.Errorf("device %q: %w: %w", dv.HostPath, errdefs.ErrInvalidArgument, err)
		}
		dst := dv.ContainerPath
		if dst == "" {
			dst = dv.HostPath
		}
		s.Linux.Devices = append(s.Linux.Devices, specDevice(dst, dv.HostPath, d))
		major, minor := d.Major, d.Minor
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow: true, Type: string(d.Type), Major: &major, Minor: &minor, Access: perms,
		})
	}
	return nil
}

// maxSeccompProfileSize bounds a Localhost seccomp profile (real ones are tens of KiB).
const maxSeccompProfileSize = 4 << 20

// readProfile reads a Localhost seccomp profile from the host. The path comes from the request:
// it is opened non-blocking and must be a regular file of bounded size, so a FIFO, a device or
// a huge file cannot hang or exhaust the daemon.
func readProfile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > maxSeccompProfileSize {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", st.Size(), maxSeccompProfileSize)
	}
	return fsutil.ReadAllLimited(f, maxSeccompProfileSize)
}
