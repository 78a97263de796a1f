package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestLeakCheck leaves behind one of each kind of thing the leak check looks for, checks that
// each is found and attributed, and that CleanLeaks removes them.
func TestLeakCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	sfx := RandomSuffix(3)
	scope := LeakScope{Dirs: []string{dir}, CgroupParent: "/crishim-e2e-leaktest-" + sfx, Before: TakeSnapshot()}
	if leaks := attributed(FindLeaks(scope)); len(leaks) > 0 {
		t.Fatalf("leaks before anything was made: %v", leaks)
	}

	// A daemon whose child outlives it, in the daemon's cgroup.
	d, err := StartDaemon("leaky", []string{"sh", "-c", "sleep 600 & exec sleep 600"}, filepath.Join(dir, "leaky.log"), "crishim-e2e-leaktest-"+sfx+"-daemon")
	if err != nil {
		t.Fatal(err)
	}
	if d.Cgroup == "" {
		t.Skip("no cgroup v2 hierarchy to track the daemon's descendants")
	}
	scope.DaemonCgroup = d.Cgroup
	waitFor(t, func() bool { return len(cgroupProcs(d.Cgroup)) == 2 })
	_ = d.Stop(5 * time.Second)

	// A mount under the dirs, and a cgroup under the parent (in every hierarchy).
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range cgroupMounts(t) {
		if err := os.MkdirAll(filepath.Join(m, scope.CgroupParent, "pod1"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vethName, closeNS := pinnedVeth(t, dir, sfx)

	leaks := FindLeaks(scope)
	kinds := map[string]int{}
	for _, l := range attributed(leaks) {
		kinds[l.Kind]++
	}
	t.Logf("found: %v", leaks)
	if kinds["process"] != 1 || kinds["mount"] != 2 || kinds["cgroup"] == 0 || kinds["veth"] != 1 {
		t.Errorf("attributed leak kinds = %v, want 1 process, 2 mounts (tmpfs, netns), cgroups, 1 veth", kinds)
	}
	if !strings.Contains(fmt.Sprint(leaks), vethName) {
		t.Errorf("veth %s not reported", vethName)
	}

	if err := CleanLeaks(leaks); err != nil {
		t.Error(err)
	}
	closeNS()
	for _, dir := range cgroupDirs(scope.CgroupParent) {
		if err := RemoveCgroup(dir); err != nil {
			t.Error(err)
		}
	}
	d.RemoveCgroup()
	waitFor(t, func() bool { return len(attributed(FindLeaks(scope))) == 0 })
	if _, err := os.Stat(d.Cgroup); !os.IsNotExist(err) {
		t.Errorf("daemon cgroup %s still there: %v", d.Cgroup, err)
	}
}

func attributed(leaks []Leak) []Leak {
	var out []Leak
	for _, l := range leaks {
		if l.Attributed {
			out = append(out, l)
		}
	}
	return out
}

func cgroupMounts(t *testing.T) []string {
	var out []string
	for _, m := range []string{"/sys/fs/cgroup/pids", cgroup2Root()} {
		if fi, err := os.Stat(m); m != "" && err == nil && fi.IsDir() {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Skip("no cgroup hierarchy found")
	}
	return out
}

// pinnedVeth creates a network namespace pinned at dir/netns and a veth pair whose peer lives
// in it; it returns the host-side name and a function that drops the namespace reference.
func pinnedVeth(t *testing.T, dir, sfx string) (string, func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(dir, "netns")
	if err := os.WriteFile(pin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", int(ns)), pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	name := "e2elk" + sfx
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "e2elp" + sfx, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteLink(name) })
	return name, func() { ns.Close() }
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	// The budget only catches a hang: the machine may be busy.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
