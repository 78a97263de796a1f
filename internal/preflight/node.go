package preflight

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultPlugins are what crishim's default bridge network runs (loopback for every pod).
var defaultPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// cniConfigs lists the network config files of dir in the order crishim picks them.
func cniConfigs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".conflist", ".conf", ".json":
			if !e.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (h Host) checkCNIConfig(p Params) Result {
	r := Result{Name: "CNI config"}
	files, err := cniConfigs(p.CNIConfDir)
	switch {
	case len(files) > 0:
		r.Detail = fmt.Sprintf("%s: %d config(s), pod network from %s", p.CNIConfDir, len(files), files[0])
	case p.CNIWriteDefault:
		r.Detail = p.CNIConfDir + " has no config: crishim writes its default bridge network there at start"
	case err != nil && !os.IsNotExist(err):
		r.Status, r.Detail, r.Fix = Fail, err.Error(), "make "+p.CNIConfDir+" a readable directory"
	default:
		r.Status, r.Detail = Fail, p.CNIConfDir+" has no network config and cni.write_default is off"
		r.Fix = "add a .conflist there (or set cni.write_default = true)"
	}
	return r
}

// pluginTypes returns the plugin types the chosen network config runs, or crishim's default
// network's when there is none yet. loopback is always needed.
func pluginTypes(p Params) []string {
	files, _ := cniConfigs(p.CNIConfDir)
	if len(files) == 0 {
		return defaultPlugins
	}
	b, err := os.ReadFile(filepath.Join(p.CNIConfDir, files[0]))
	if err != nil {
		return defaultPlugins
	}
	var conf struct {
		Type    string `json:"type"`
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if json.Unmarshal(b, &conf) != nil {
		return defaultPlugins
	}
	types := []string{"loopback"}
	if conf.Type != "" {
		types = append(types, conf.Type)
	}
	for _, pl := range conf.Plugins {
		types = append(types, pl.Type)
	}
	return types
}

func (h Host) checkCNIPlugins(p Params) Result {
	r := Result{Name: "CNI plugins"}
	var missing, found []string
	for _, t := range pluginTypes(p) {
		if dir := findPlugin(t, p.CNIBinDirs); dir != "" {
			found = append(found, t+" ("+dir+")")
		} else {
			missing = append(missing, t)
		}
	}
	r.Detail = strings.Join(found, ", ")
	if len(missing) > 0 {
		r.Status = Fail
		r.Detail = fmt.Sprintf("missing in %s: %s", strings.Join(p.CNIBinDirs, ":"), strings.Join(missing, " "))
		r.Fix = "apt-get install containernetworking-plugins (Debian puts them in /usr/lib/cni), or install them in /opt/cni/bin, or set cni.bin_dirs"
	}
	return r
}

func findPlugin(name string, dirs []string) string {
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return d
		}
	}
	return ""
}

// checkIptables: the bridge (ipMasq) and portmap plugins run iptables from the daemon's PATH.
func (h Host) checkIptables() Result {
	if p, err := h.LookPath("iptables"); err == nil {
		return Result{Name: "iptables", Detail: p}
	}
	return Result{Name: "iptables", Status: Fail, Detail: "not on PATH (" + os.Getenv("PATH") + "): the bridge and portmap plugins need it",
		Fix: "apt-get install iptables, and give the daemon a PATH that contains it"}
}

func checkSocketDir(socket string) Result {
	dir := existingAncestor(filepath.Dir(socket))
	r := Result{Name: "socket dir", Detail: filepath.Dir(socket) + " writable"}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		r.Status, r.Detail = Fail, dir+" is not a directory"
		r.Fix = "set socket to a path in a writable directory"
	} else if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		r.Status, r.Detail = Fail, fmt.Sprintf("%s is not writable: %v", dir, err)
		r.Fix = "run as root, or set socket to a path in a writable directory"
	}
	return r
}

// overlayMagic is OVERLAYFS_SUPER_MAGIC.
const overlayMagic = 0x794c7630

// checkRootDir: root_dir holds overlay lower and upper dirs, so it must not be overlayfs
// itself (an overlay upper dir cannot live on overlay) and must fill in d_type (overlay
// refuses upper dirs on xfs with ftype=0).
func (h Host) checkRootDir(root string) Result {
	r := Result{Name: "root_dir filesystem"}
	dir := existingAncestor(root)
	fail := func(detail, fix string) Result {
		r.Status, r.Detail, r.Fix = Fail, root+": "+detail, fix
		return r
	}
	const moveFix = "put root_dir on ext4, xfs (ftype=1), btrfs or tmpfs"
	magic, err := h.FSType(dir)
	if err != nil {
		return fail("statfs "+dir+": "+err.Error(), "make root_dir's parent directory exist and be readable")
	}
	if magic == overlayMagic {
		return fail("on overlayfs (an overlay upper dir cannot live on overlay; inside a container, make it a volume)", moveFix)
	}
	tmp, err := os.MkdirTemp(dir, ".crishim-check-")
	if err != nil {
		return fail("not writable: "+err.Error(), "run as root, or set root_dir to a writable place")
	}
	defer os.RemoveAll(tmp)
	dtype, err := h.DirentTypes(tmp)
	if err != nil {
		return fail("read directory entries: "+err.Error(), moveFix)
	}
	if !dtype {
		return fail("filesystem does not report d_type (xfs formatted with ftype=0?)", moveFix)
	}
	r.Detail = fmt.Sprintf("%s (fs magic %#x) has d_type", dir, magic)
	if h.OverlayProbe == nil {
		r.Detail += "; overlay mount not tried (not root)"
		return r
	}
	if err := h.OverlayProbe(tmp); err != nil {
		return fail("an overlay with its upper dir here does not mount: "+err.Error(), moveFix)
	}
	r.Detail += ", overlay upper dirs mount"
	return r
}
