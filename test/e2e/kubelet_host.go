package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// A kubelet changes host state that outlives it: kernel tunables, iptables chains, cgroups and
// files under /var/log. These helpers record that state before a test's kubelet starts and put
// back or remove what it changed.

// kubeletSysctls are the tunables a kubelet sets at start (its container manager's
// setupKernelTunables).
var kubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// SaveSysctls returns the current values of the kubelet's tunables.
func SaveSysctls() map[string]string {
	vals := map[string]string{}
	for _, k := range kubeletSysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			vals[k] = strings.TrimSpace(string(b))
		}
	}
	return vals
}

// RestoreSysctls writes saved values back.
func RestoreSysctls(vals map[string]string) error {
	var errs []error
	for k, v := range vals {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s=%s: %w", k, v, err))
		}
	}
	return errors.Join(errs...)
}

// iptablesTables are the tables a kubelet adds chains to (KUBE-IPTABLES-HINT, KUBE-FIREWALL,
// KUBE-KUBELET-CANARY).
var iptablesTables = []string{"filter", "mangle", "nat"}

// IptablesChains returns the "binary table chain" triples that exist (for iptables and
// ip6tables, when installed).
func IptablesChains() map[string]bool {
	chains := map[string]bool{}
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range iptablesTables {
			out, err := exec.Command(bin, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "-N" {
					chains[bin+" "+table+" "+f[1]] = true
				}
			}
		}
	}
	return chains
}

// RemoveNewKubeChains removes the KUBE-* chains that exist now but not in before, and the
// rules of built-in chains that jump to them; it returns what it removed.
func RemoveNewKubeChains(before map[string]bool) ([]string, error) {
	var removed []string
	var errs []error
	for c := range IptablesChains() {
		f := strings.Fields(c)
		bin, table, chain := f[0], f[1], f[2]
		if before[c] || !strings.HasPrefix(chain, "KUBE-") {
			continue
		}
		out, _ := exec.Command(bin, "-w", "-t", table, "-S").Output()
		for _, l := range strings.Split(string(out), "\n") {
			rule := strings.Fields(l)
			if len(rule) > 2 && rule[0] == "-A" && slices.Contains(rule, "-j") && rule[len(rule)-1] == chain {
				rule[0] = "-D"
				if o, err := exec.Command(bin, append([]string{"-w", "-t", table}, rule...)...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s %s: %v: %s", bin, table, strings.Join(rule, " "), err, o))
				}
			}
		}
		for _, op := range []string{"-F", "-X"} {
			if o, err := exec.Command(bin, "-w", "-t", table, op, chain).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s -t %s %s %s: %v: %s", bin, table, op, chain, err, o))
			}
		}
		removed = append(removed, c)
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}

// CreateCgroupRoot creates the cgroupfs directory path in every mounted hierarchy (a kubelet
// refuses a cgroupRoot that does not exist). In a v1 cpuset hierarchy the new directory gets
// its parent's cpus and mems: an empty set would keep every process out of it.
func CreateCgroupRoot(path string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return err
	}
	for _, m := range mounts {
		dir := filepath.Join(m.Mountpoint, path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if m.FSType == "cgroup" && slices.Contains(strings.Split(m.VFSOptions, ","), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// RemoveCgroupRoot removes path and everything below it from every hierarchy. A cgroup that
// still holds a process cannot be removed: that is returned as an error naming it.
func RemoveCgroupRoot(path string) error {
	var errs []error
	for _, dir := range cgroupDirs(path) {
		for _, pid := range cgroupProcs(dir) { // dir and below
			errs = append(errs, fmt.Errorf("process %d left in %s", pid, dir))
		}
		if err := RemoveCgroup(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemovePodLogs removes what a kubelet wrote for pods of namespace ns under the fixed log
// paths: /var/log/pods/<ns>_<pod>_<uid>/ and the /var/log/containers/<pod>_<ns>_<ctr>-<id>.log
// links to them. It returns the paths it removed.
func RemovePodLogs(podsDir, containersDir, ns string) ([]string, error) {
	var removed []string
	var errs []error
	pods, _ := filepath.Glob(filepath.Join(podsDir, ns+"_*"))
	links, _ := filepath.Glob(filepath.Join(containersDir, "*_"+ns+"_*.log"))
	for _, p := range append(pods, links...) {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// kubeletFixedPaths are paths a kubelet creates whatever its --root-dir: the device plugin
// socket dir and the container log dirs.
var kubeletFixedPaths = []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/pods", "/var/log/containers"}

// MissingPaths returns the kubelet's fixed paths that do not exist now.
func MissingPaths() []string {
	var missing []string
	for _, p := range kubeletFixedPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, p)
		}
	}
	return missing
}

// RemovePaths removes paths (recursively).
func RemovePaths(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
