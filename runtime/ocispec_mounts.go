package runtime

import (
	"path"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// buildMounts returns the default mounts, the pod's files and the container's own mounts.
// A container mount replaces a default or pod mount with the same destination; container
// mounts are ordered so that a parent directory is mounted before what is below it.
func buildMounts(cs ContainerSpec, h hostInfo) []specs.Mount {
	sec := cs.Security
	roSys := "ro"
	if sec.Privileged {
		roSys = "rw"
	}
	shm := specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
		Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}
	switch {
	case cs.Pod.ShmPath != "":
		shm = bindMount("/dev/shm", cs.Pod.ShmPath, "rbind", "nosuid", "nodev", "noexec", "rprivate")
	case cs.Pod.HostIPC:
		shm = bindMount("/dev/shm", "/dev/shm", "rbind", "nosuid", "nodev", "noexec", "rprivate")
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		shm,
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", roSys}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", roSys}},
	}
	fileMode := "rw"
	if sec.ReadOnlyRootfs {
		fileMode = "ro"
	}
	for _, f := range []struct{ dst, src string }{
		{"/etc/hostname", cs.Pod.HostnamePath},
		{"/etc/hosts", cs.Pod.HostsPath},
		{"/etc/resolv.conf", cs.Pod.ResolvPath},
	} {
		if f.src != "" {
			mounts = append(mounts, bindMount(f.dst, f.src, "rbind", "rprivate", fileMode))
		}
	}
	if cs.Pod.UserNSPath == "" && len(cs.Pod.UIDMappings) > 0 && !cs.Pod.HostIPC && cs.Pod.IPCNSPath != "" {
		// A new user namespace cannot mount mqueue for an ipc namespace it does not own
		// (one the sandbox made outside it): leave /dev/mqueue out rather than fail.
		mounts = slices.DeleteFunc(mounts, func(m specs.Mount) bool { return m.Destination == "/dev/mqueue" })
	}
	if cs.Pod.UserNSPath == "" && len(cs.Pod.UIDMappings) > 0 && !cs.Pod.HostNetwork && cs.Pod.NetNSPath != "" {
		// Likewise sysfs needs the network namespace: bind the host's /sys read-only.
		for i := range mounts {
			if mounts[i].Destination == "/sys" {
				mounts[i] = bindMount("/sys", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro", "rslave")
			}
		}
	}
	user := containerMounts(cs.Mounts)
	taken := map[string]bool{}
	for _, m := range user {
		taken[m.Destination] = true
	}
	out := make([]specs.Mount, 0, len(mounts)+len(user))
	for _, m := range mounts {
		if !taken[m.Destination] {
			out = append(out, m)
		}
	}
	return append(out, user...)
}

func bindMount(dst, src string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts}
}

// containerMounts converts the request's mounts, sorted by destination depth (stable).
func containerMounts(in []ContainerMount) []specs.Mount {
	out := make([]specs.Mount, 0, len(in))
	for _, m := range in {
		opts := []string{"rbind"}
		switch m.Propagation {
		case PropagationHostToContainer:
			opts = append(opts, "rslave")
		case PropagationBidirectional:
			opts = append(opts, "rshared")
		default:
			opts = append(opts, "rprivate")
		}
		switch {
		case m.RecursiveReadOnly:
			opts = append(opts, "ro", "rro")
		case m.Readonly:
			opts = append(opts, "ro")
		default:
			opts = append(opts, "rw")
		}
		sm := bindMount(path.Clean(m.Destination), m.Source, opts...)
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			sm.UIDMappings = specIDMappings(m.UIDMappings)
			sm.GIDMappings = specIDMappings(m.GIDMappings)
		}
		out = append(out, sm)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return depth(out[i].Destination) < depth(out[j].Destination)
	})
	return out
}

func depth(p string) int {
	p = path.Clean(p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// rootfsPropagation is the propagation the container's root needs for its mounts: rshared
// when a mount is bidirectional, rslave when one receives host mounts, else private.
func rootfsPropagation(in []ContainerMount) string {
	prop := ""
	for _, m := range in {
		switch m.Propagation {
		case PropagationBidirectional:
			return "rshared"
		case PropagationHostToContainer:
			prop = "rslave"
		}
	}
	return prop
}
