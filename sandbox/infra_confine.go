package sandbox

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// infraID is the uid and gid the infra runs as once its namespaces are ready (the "nobody"
// id of pause images and of Kubernetes).
const infraID = 65535

func init() {
	// The infra drops its bounding set and sets no_new_privs on the thread that runs InfraMain
	// (both are per thread). Locking the main goroutine during init keeps InfraMain on the
	// leader thread, the one /proc/<pid>/status of PID 1 shows to the pod's containers.
	if len(os.Args) > 1 && os.Args[1] == DefaultInfraSubcommand {
		goruntime.LockOSThread()
	}
}

// confineInfra runs in the infra after its namespaces are prepared. The infra is PID 1 of every
// container of a shared-PID pod, so a container with CAP_SYS_PTRACE reaches its root, cwd and
// mount table through /proc/1: it gets its own mount namespace (CLONE_NEWNS at clone) whose
// only mount is an empty read-only tmpfs as root and cwd, then drops to uid/gid 65535 with no
// supplementary group, no capability in any set and no_new_privs. It never execs and only
// reaps children and waits for signals, which need none of what it gave up.
func confineInfra() error {
	id := unprivilegedID() // reads /proc: before the root is emptied
	if err := emptyRoot(); err != nil {
		return fmt.Errorf("infra root: %w", err)
	}
	return dropPrivileges(id)
}

// unprivilegedID returns 65535 when both the uid and the gid map of the infra's user
// namespace contain it (always outside user namespaces, and for kubelet's 65536-id ranges),
// else the highest non-zero id both contain, else 0 (a namespace mapping only its root).
func unprivilegedID() int {
	return pickID(mappedIDs("/proc/self/uid_map"), mappedIDs("/proc/self/gid_map"))
}

func pickID(uids, gids [][2]int) int {
	best := 0
	for _, u := range uids {
		for _, g := range gids {
			lo, hi := max(u[0], g[0]), min(u[1], g[1]) // [lo, hi) mapped in both
			if lo <= infraID && infraID < hi {
				return infraID
			}
			if hi-1 > best && hi-1 > 0 && lo < hi {
				best = hi - 1
			}
		}
	}
	return best
}

// mappedIDs parses an id map into [first, end) ranges of the namespace's own ids.
func mappedIDs(file string) [][2]int {
	b, err := os.ReadFile(file)
	if err != nil {
		return [][2]int{{0, 1 << 31}}
	}
	var out [][2]int
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		first, err1 := strconv.Atoi(f[0])
		n, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			out = append(out, [2]int{first, first + n})
		}
	}
	return out
}

func emptyRoot() error {
	// Private first: nothing below may propagate back to the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// /proc always exists; the tmpfs over it is only in this private namespace.
	const at = "/proc"
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", at, "tmpfs", flags, "size=4k,nr_inodes=16,mode=0555"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	if err := unix.Chdir(at); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the tmpfs
	// as the only mount of the namespace (runc does the same).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", flags|unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

func dropPrivileges(id int) error {
	// Bounding set and ambient set first: both need privilege to change.
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// The syscall package applies these to every thread of the process (libc's set*id
	// broadcast): leaving uid 0 clears the permitted, effective and ambient sets of all of them.
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(id, id, id); err != nil {
		return fmt.Errorf("setresgid %d: %w", id, err)
	}
	if err := syscall.Setresuid(id, id, id); err != nil {
		return fmt.Errorf("setresuid %d: %w", id, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // all zero: no effective, permitted or inheritable capability
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}
