package preflight

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// checkOverlay: container root filesystems and image snapshots are overlay mounts.
func (h Host) checkOverlay() Result {
	r := Result{Name: "overlayfs"}
	fs, err := h.read("/proc/filesystems")
	if err != nil {
		return Result{Name: r.Name, Status: Fail, Detail: "cannot read /proc/filesystems: " + err.Error(), Fix: "mount /proc"}
	}
	for _, line := range strings.Split(fs, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
			r.Detail = "supported"
			return r
		}
	}
	// Not registered yet: a module the kernel loads on the first overlay mount is fine.
	rel, _ := h.read("/proc/sys/kernel/osrelease")
	if dep, err := h.read("/lib/modules/" + rel + "/modules.dep"); err == nil && strings.Contains(dep, "/overlay.ko") {
		r.Status, r.Detail = Warn, "module not loaded yet (the kernel loads it on the first overlay mount)"
		r.Fix = "modprobe overlay, and list it in /etc/modules-load.d/crishim.conf"
		return r
	}
	r.Status, r.Detail = Fail, "the kernel has no overlay filesystem"
	r.Fix = "use a kernel built with CONFIG_OVERLAY_FS (or install its module and modprobe overlay)"
	return r
}

// checkNamespaces: pods need net, ipc, uts and mnt namespaces, shared-PID pods a pid
// namespace, user-namespaced pods a user namespace.
func (h Host) checkNamespaces() Result {
	var missing []string
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt", "user"} {
		if _, err := os.Lstat(h.path("/proc/self/ns/" + ns)); err != nil {
			missing = append(missing, ns)
		}
	}
	if len(missing) > 0 {
		return Result{Name: "namespaces", Status: Fail, Detail: "missing: " + strings.Join(missing, ", "),
			Fix: "use a kernel with CONFIG_NAMESPACES and CONFIG_{NET,IPC,UTS,PID,USER}_NS"}
	}
	return Result{Name: "namespaces", Detail: "net ipc uts pid mnt user"}
}

// checkUserNS: only pods that ask for a user namespace (hostUsers: false) need them, so a
// host without them can still run every other pod.
func (h Host) checkUserNS() Result {
	r := Result{Name: "user namespaces"}
	fix := "sysctl -w user.max_user_namespaces=65536 (persist it in /etc/sysctl.d)"
	s, err := h.read("/proc/sys/user/max_user_namespaces")
	if err != nil {
		r.Status, r.Detail = Warn, "not available (no /proc/sys/user/max_user_namespaces): pods with hostUsers: false cannot run"
		r.Fix = "use a kernel with CONFIG_USER_NS"
		return r
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("max_user_namespaces is %q", s), fix
	case n == 0:
		r.Status, r.Detail, r.Fix = Warn, "disabled (max_user_namespaces = 0): pods with hostUsers: false cannot run", fix
	default:
		r.Detail = fmt.Sprintf("enabled (max_user_namespaces = %d)", n)
	}
	return r
}

// checkIDMap: user-namespaced pods get their image layers through idmapped mounts, which
// need mount_setattr (Linux 5.12) and overlayfs on idmapped layers (Linux 5.19).
func (h Host) checkIDMap() Result {
	r := Result{Name: "idmapped mounts"}
	rel, _ := h.read("/proc/sys/kernel/osrelease")
	maj, min, ok := kernelVersion(rel)
	hasSyscall := h.MountSetattr != nil && h.MountSetattr()
	fix := "use Linux 5.19 or newer"
	switch {
	case !hasSyscall:
		r.Status, r.Detail, r.Fix = Warn, "mount_setattr unavailable (kernel "+rel+"): user-namespaced pods get an unmapped, read-only-for-root rootfs", fix
	case !ok:
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("kernel version %q not understood", rel), fix
	case maj < 5 || maj == 5 && min < 19:
		r.Status, r.Detail, r.Fix = Warn, "kernel "+rel+" cannot stack overlayfs on idmapped layers: user-namespaced pods get an unmapped rootfs", fix
	default:
		r.Detail = "supported (kernel " + rel + ")"
	}
	return r
}

// kernelVersion parses the major and minor numbers of a release such as "6.1.0-18-amd64".
func kernelVersion(rel string) (int, int, bool) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	minStr := parts[1]
	if i := strings.IndexFunc(minStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = minStr[:i]
	}
	min, err2 := strconv.Atoi(minStr)
	return maj, min, err1 == nil && err2 == nil
}

// checkSeccomp: the RuntimeDefault profile (and any Localhost one) is a seccomp filter.
func (h Host) checkSeccomp() Result {
	r := Result{Name: "seccomp"}
	if acts, err := h.read("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		r.Detail = "filters supported (actions: " + acts + ")"
		return r
	}
	status, _ := h.read("/proc/self/status")
	if strings.Contains(status, "\nSeccomp:") || strings.HasPrefix(status, "Seccomp:") {
		r.Detail = "supported (no actions_avail: kernel older than 4.14)"
		return r
	}
	r.Status, r.Detail = Fail, "the kernel has no seccomp: containers with a seccomp profile (RuntimeDefault) fail to start"
	r.Fix = "use a kernel with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER"
	return r
}
