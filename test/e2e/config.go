package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// MirroredRegistries are the registries critest pulls from; the runtime under test mirrors
// them to the fixture registry. public.ecr.aws is only used by the image benchmarks.
var MirroredRegistries = []string{"registry.k8s.io", "gcr.io", "public.ecr.aws"}

// ShimConfig is what the runner sets in the shim daemon's configuration file.
type ShimConfig struct {
	RootDir, StateDir, Socket string
	LogLevel                  string
	// MirrorURL is the fixture registry's URL, set as the mirror of MirroredRegistries.
	MirrorURL string
	// CgroupParent is the cgroupfs parent of pods that do not name one.
	CgroupParent string
	// CNIConfDir, CNIBridge and CNISubnet give the run a pod network of its own.
	CNIConfDir, CNIBridge, CNISubnet string
	// CNIBinDirs replaces the directories searched for CNI plugins (empty: the default).
	CNIBinDirs []string
	// Known holds the keys the daemon's configuration has (see DaemonKeys); a section whose
	// key is not known is left out. nil: write every section.
	Known map[string]bool
}

// TOML returns the configuration file content.
func (c ShimConfig) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "root_dir = %s\nstate_dir = %s\nsocket = %s\nlog_level = %s\n",
		strconv.Quote(c.RootDir), strconv.Quote(c.StateDir), strconv.Quote(c.Socket), strconv.Quote(c.LogLevel))
	b.WriteString(c.sections())
	return b.String()
}

// Has reports whether the daemon's configuration has key (dotted, e.g. "runtime.cgroup_parent").
func (c ShimConfig) Has(key string) bool { return c.Known == nil || c.Known[key] }

// CgroupParentKey returns the key the cgroup parent is written under: runtime.cgroup_parent, or
// sandbox.cgroup_parent when only that one exists; "" when neither does (or none is set).
func (c ShimConfig) CgroupParentKey() string {
	switch {
	case c.CgroupParent == "":
		return ""
	case c.Has("runtime.cgroup_parent"):
		return "runtime.cgroup_parent"
	case c.Has("sandbox.cgroup_parent"):
		return "sandbox.cgroup_parent"
	}
	return ""
}

// sections returns the [images], [runtime] and [cni] sections the daemon knows. Kept apart so it
// is easy to adjust while the daemon's configuration grows.
func (c ShimConfig) sections() string {
	var b strings.Builder
	q := strconv.Quote
	if c.MirrorURL != "" && c.Has("images") {
		for _, r := range MirroredRegistries {
			fmt.Fprintf(&b, "[images.registries.%s]\nmirrors = [%s]\n", q(r), q(c.MirrorURL))
		}
	}
	if key := c.CgroupParentKey(); key != "" {
		section, name, _ := strings.Cut(key, ".")
		fmt.Fprintf(&b, "[%s]\n%s = %s\n", section, name, q(c.CgroupParent))
	}
	var cni []string
	for _, kv := range [][2]string{{"conf_dir", c.CNIConfDir}, {"bridge_name", c.CNIBridge}, {"default_subnet", c.CNISubnet}} {
		if kv[1] != "" && c.Has("cni."+kv[0]) {
			cni = append(cni, kv[0]+" = "+q(kv[1])+"\n")
		}
	}
	if len(c.CNIBinDirs) > 0 && c.Has("cni.bin_dirs") {
		dirs := make([]string, len(c.CNIBinDirs))
		for i, d := range c.CNIBinDirs {
			dirs[i] = q(d)
		}
		cni = append(cni, "bin_dirs = ["+strings.Join(dirs, ", ")+"]\n")
	}
	if len(cni) > 0 {
		b.WriteString("[cni]\n" + strings.Join(cni, ""))
	}
	return b.String()
}

// DaemonKeys returns the dotted keys of the daemon's default configuration (`shim config
// default`): tables ("cni") and values ("cni.conf_dir").
func DaemonKeys(shimBin string) (map[string]bool, error) {
	out, err := exec.Command(shimBin, "config", "default").Output()
	if err != nil {
		return nil, fmt.Errorf("%s config default: %w", shimBin, err)
	}
	var tree map[string]any
	if err := toml.Unmarshal(out, &tree); err != nil {
		return nil, fmt.Errorf("%s config default: %w", shimBin, err)
	}
	keys := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			keys[prefix+k] = true
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", tree)
	return keys, nil
}

// ContainerdConfig is a private containerd 1.6 instance used as the reference runtime: its own
// root, state, socket, CNI network (a bridge with a name and subnet of its own) and mirrors.
type ContainerdConfig struct {
	Dir       string // root, state, CNI config and IPAM data go below Dir
	Socket    string
	MirrorURL string
	// Bridge is the CNI bridge name (at most 15 bytes); Subnet its IPv4 /24.
	Bridge, Subnet string
	// CNIBinDir holds the CNI plugins.
	CNIBinDir string
}

// Write writes the containerd configuration and the CNI network list; it returns the
// configuration file's path.
func (c ContainerdConfig) Write() (string, error) {
	confDir := filepath.Join(c.Dir, "cni")
	for _, d := range []string{confDir, filepath.Join(c.Dir, "root"), filepath.Join(c.Dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	network := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "crishim-e2e-peer",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": c.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": c.Subnet}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(c.Dir, "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	data, err := json.MarshalIndent(network, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-e2e.conflist"), data, 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(c.Dir, "config.toml")
	return path, os.WriteFile(path, []byte(c.toml(confDir)), 0o644)
}

func (c ContainerdConfig) toml(confDir string) string {
	q := strconv.Quote
	cri := `[plugins."io.containerd.grpc.v1.cri"]`
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\nroot = %s\nstate = %s\n", q(filepath.Join(c.Dir, "root")), q(filepath.Join(c.Dir, "state")))
	fmt.Fprintf(&b, "[grpc]\naddress = %s\n", q(c.Socket))
	fmt.Fprintf(&b, "[plugins.\"io.containerd.internal.v1.opt\"]\npath = %s\n", q(filepath.Join(c.Dir, "opt")))
	fmt.Fprintf(&b, "%s\nsandbox_image = %s\nrestrict_oom_score_adj = true\n", cri, q("registry.k8s.io/pause:3.10"))
	// Port 0: a free port, so that concurrent instances do not collide on the default 10010.
	fmt.Fprintf(&b, "stream_server_address = \"127.0.0.1\"\nstream_server_port = \"0\"\n")
	fmt.Fprintf(&b, "%s.cni]\nbin_dir = %s\nconf_dir = %s\n", strings.TrimSuffix(cri, "]"), q(c.CNIBinDir), q(confDir))
	for _, r := range MirroredRegistries {
		fmt.Fprintf(&b, "%s.registry.mirrors.%s]\nendpoint = [%s]\n", strings.TrimSuffix(cri, "]"), q(r), q(c.MirrorURL))
	}
	return b.String()
}
