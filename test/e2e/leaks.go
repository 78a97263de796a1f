package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` and most CNI tooling pin network namespaces.
const netnsDir = "/run/netns"

// HostSnapshot is the host state before the daemon starts, for the leak check to compare with.
type HostSnapshot struct {
	Netns map[string]bool // entries of /run/netns
	Links map[string]bool // "name/index" of the host's network links
}

// TakeSnapshot records the host state.
func TakeSnapshot() HostSnapshot {
	s := HostSnapshot{Netns: map[string]bool{}, Links: map[string]bool{}}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		s.Netns[e.Name()] = true
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		s.Links[linkKey(l)] = true
	}
	return s
}

func linkKey(l netlink.Link) string {
	return l.Attrs().Name + "/" + strconv.Itoa(l.Attrs().Index)
}

// LeakScope says what belongs to the daemon under test.
type LeakScope struct {
	// Dirs are the daemon's root/state/temp dirs: every mount below them is a leak.
	Dirs []string
	// CgroupParent is the daemon's default cgroupfs parent: every cgroup below it, in every
	// hierarchy, is a leak. Empty: not checked.
	CgroupParent string
	// DaemonCgroup is the daemon's cgroup v2 dir: every process left in it is a leak.
	DaemonCgroup string
	// Executables: every process running one of these files is a leak.
	Executables []string
	// Before is the host state before the daemon started.
	Before HostSnapshot
}

// Leak is one thing left behind. Attributed leaks are provably the daemon's; others (new
// network namespaces and veths) may come from tests running concurrently on the host.
type Leak struct {
	Kind, What string
	Attributed bool

	pid       int    // process
	path      string // mount point, cgroup dir or netns file
	linkIndex int    // veth
}

func (l Leak) String() string { return l.Kind + ": " + l.What }

// FindLeaks lists what the daemon left behind; call it after the daemon has stopped.
func FindLeaks(s LeakScope) []Leak {
	var leaks []Leak
	leaks = append(leaks, processLeaks(s)...)
	mounts := mountLeaks(s.Dirs)
	leaks = append(leaks, mounts...)
	leaks = append(leaks, cgroupLeaks(s.CgroupParent)...)
	leaks = append(leaks, netLeaks(s, leaks)...)
	return leaks
}

func processLeaks(s LeakScope) []Leak {
	pids := map[int]bool{}
	if s.DaemonCgroup != "" {
		for _, p := range cgroupProcs(s.DaemonCgroup) {
			pids[p] = true
		}
	}
	for _, dir := range cgroupDirs(s.CgroupParent) {
		for _, p := range cgroupProcs(dir) {
			pids[p] = true
		}
	}
	if len(s.Executables) > 0 {
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe"))
			exe = strings.TrimSuffix(exe, " (deleted)")
			for _, want := range s.Executables {
				if err == nil && exe == want {
					pids[pid] = true
				}
			}
		}
	}
	var leaks []Leak
	for pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		what := fmt.Sprintf("pid %d: %s", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		leaks = append(leaks, Leak{Kind: "process", What: what, Attributed: true, pid: pid})
	}
	sort.Slice(leaks, func(i, j int) bool { return leaks[i].pid < leaks[j].pid })
	return leaks
}

// cgroupProcs returns the processes of the cgroup dir and of its descendants.
func cgroupProcs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// cgroupDirs returns parent's directory in every mounted cgroup hierarchy where it exists.
func cgroupDirs(parent string) []string {
	if parent == "" || parent == "/" {
		return nil
	}
	mounts, _ := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	var dirs []string
	for _, m := range mounts {
		dir := filepath.Join(m.Mountpoint, parent)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs
}

func cgroupLeaks(parent string) []Leak {
	var leaks []Leak
	for _, dir := range cgroupDirs(parent) {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && path != dir {
				leaks = append(leaks, Leak{Kind: "cgroup", What: path, Attributed: true, path: path})
			}
			return nil
		})
	}
	return leaks
}

func mountLeaks(dirs []string) []Leak {
	var leaks []Leak
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
		for _, m := range mounts {
			leaks = append(leaks, Leak{Kind: "mount", What: m.Mountpoint + " (" + m.FSType + ")", Attributed: true, path: m.Mountpoint})
		}
	}
	return leaks
}

// netLeaks reports new /run/netns entries and new veths. A veth is attributed to the daemon
// when its peer lives in a network namespace the daemon left: a pinned namespace under its
// dirs, or that of a leaked process.
func netLeaks(s LeakScope, found []Leak) []Leak {
	ours := map[int]bool{}
	nsid := func(path string) {
		if f, err := os.Open(path); err == nil {
			if id, err := netlink.GetNetNsIdByFd(int(f.Fd())); err == nil && id >= 0 {
				ours[id] = true
			}
			f.Close()
		}
	}
	for _, l := range found {
		switch {
		case l.Kind == "mount" && strings.HasSuffix(l.What, "(nsfs)"):
			nsid(l.path)
		case l.Kind == "process":
			nsid(fmt.Sprintf("/proc/%d/ns/net", l.pid))
		}
	}
	var leaks []Leak
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if !s.Before.Netns[e.Name()] {
			p := filepath.Join(netnsDir, e.Name())
			leaks = append(leaks, Leak{Kind: "netns", What: p + " (new since the start)", path: p})
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Type() != "veth" || s.Before.Links[linkKey(l)] {
			continue
		}
		a := l.Attrs()
		leaks = append(leaks, Leak{Kind: "veth", What: fmt.Sprintf("%s (new since the start, peer netns id %d)", a.Name, a.NetNsID),
			Attributed: ours[a.NetNsID], linkIndex: a.Index})
	}
	return leaks
}

// CleanLeaks removes what it can of the attributed leaks: kills processes, detaches mounts,
// removes cgroups and veths. Unattributed leaks are left alone (they may belong to others).
func CleanLeaks(leaks []Leak) error {
	var errs []error
	var pids []int
	for _, l := range leaks {
		if l.Attributed && l.Kind == "process" {
			pids = append(pids, l.pid)
			_ = syscall.Kill(l.pid, syscall.SIGKILL)
		}
	}
	waitGone(pids, 10*time.Second)
	// Deepest first, for mounts and cgroups alike.
	sorted := append([]Leak(nil), leaks...)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].path) > len(sorted[j].path) })
	for _, l := range sorted {
		if !l.Attributed {
			continue
		}
		var err error
		switch l.Kind {
		case "mount":
			err = unix.Unmount(l.path, unix.MNT_DETACH)
		case "cgroup":
			err = os.Remove(l.path)
		case "veth":
			err = netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: l.linkIndex}})
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("clean %s: %w", l, err))
		}
	}
	return errors.Join(errs...)
}

func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// RemoveCgroup removes a cgroup dir and its (empty) descendants, deepest first.
func RemoveCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
