// Package preflight checks that a host can run crishim: kernel features, cgroups, the CNI
// plugins, and the directories of the configuration. `shim check` prints the findings and
// `shim daemon` logs them at start.
//
// Every check reads the host through Host, so tests run them against a fake /proc and /sys
// tree and fake probes; Real returns the host the daemon runs on.
package preflight

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Status is the outcome of one check.
type Status int

const (
	// OK means the requirement is met.
	OK Status = iota
	// Warn means crishim runs but a feature is missing or degraded.
	Warn
	// Fail means pods or containers cannot run until the cause is fixed.
	Fail
)

// String returns OK, WARN or FAIL.
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	default:
		return "FAIL"
	}
}

// Result is one finding: what was checked, what was found and, unless OK, how to fix it.
type Result struct {
	Name   string
	Status Status
	Detail string
	Fix    string
}

// String renders the finding as one line: status, name, detail and the fix.
func (r Result) String() string {
	s := fmt.Sprintf("%-4s  %s: %s", r.Status, r.Name, r.Detail)
	if r.Fix != "" && r.Status != OK {
		s += " — fix: " + r.Fix
	}
	return s
}

// Host is how the checks see the machine.
type Host struct {
	// Root prefixes every /proc, /sys and /lib/modules path read ("" = the real host).
	Root string
	// LookPath finds an executable on PATH.
	LookPath func(string) (string, error)
	// MountSetattr reports whether the mount_setattr syscall exists (needed for idmapped mounts).
	MountSetattr func() bool
	// FSType returns the statfs magic of the filesystem holding path.
	FSType func(path string) (int64, error)
	// DirentTypes reports whether the filesystem at dir fills in d_type in directory entries.
	DirentTypes func(dir string) (bool, error)
	// OverlayProbe mounts and unmounts a small overlay whose upper dir lives in dir; nil skips
	// the probe (not root).
	OverlayProbe func(dir string) error
}

// Real returns the host the process runs on.
func Real() Host {
	h := Host{LookPath: exec.LookPath, MountSetattr: mountSetattrExists, FSType: fsType,
		DirentTypes: direntTypes}
	if os.Geteuid() == 0 {
		h.OverlayProbe = overlayProbe
	}
	return h
}

// Params are the parts of the configuration the checks look at.
type Params struct {
	// CNIConfDir, CNIBinDirs and CNIWriteDefault are cni.conf_dir, cni.bin_dirs and
	// cni.write_default.
	CNIConfDir      string
	CNIBinDirs      []string
	CNIWriteDefault bool
	// Socket is the CRI socket path; its directory must be writable.
	Socket string
	// RootDir is root_dir: images, snapshots and container upper dirs live there.
	RootDir string
}

// Run performs every check, in a fixed order.
func Run(h Host, p Params) []Result {
	out := []Result{h.checkOverlay(), h.checkNamespaces(), h.checkUserNS(), h.checkIDMap(), h.checkSeccomp()}
	out = append(out, h.checkCgroups()...)
	out = append(out, h.checkCNIConfig(p), h.checkCNIPlugins(p), h.checkIptables(), checkSocketDir(p.Socket))
	return append(out, h.checkRootDir(p.RootDir))
}

// Failed reports whether any result is a Fail.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// path maps an absolute host path into the (possibly fake) root.
func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

func (h Host) read(p string) (string, error) {
	b, err := os.ReadFile(h.path(p))
	return strings.TrimSpace(string(b)), err
}

// existingAncestor returns p or its nearest existing parent: the daemon creates missing
// directories, so a check judges the filesystem they will be created on.
func existingAncestor(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || p == "/" || p == "." {
			return p
		}
		p = filepath.Dir(p)
	}
}
