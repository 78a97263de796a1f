package cni

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"

	"github.com/crishim/crishim/internal/errdefs"
)

// Config is the [cni] section of the daemon configuration.
type Config struct {
	// ConfDir is the directory holding CNI network configs (.conflist, .conf, .json); the
	// first valid one in lexical order is the pod network.
	ConfDir string `toml:"conf_dir" comment:"CNI network configs; the first valid .conflist/.conf/.json in lexical order is the pod network."`
	// BinDirs are searched, in order, for plugin executables.
	BinDirs []string `toml:"bin_dirs" comment:"Directories searched, in order, for CNI plugin binaries."`
	// CacheDir holds libcni's result cache and crishim's attachment records; it must survive
	// daemon restarts and reboots so DEL can always run. Empty means <state dir>/cni.
	CacheDir string `toml:"cache_dir" comment:"libcni result cache and attachment records (must persist across reboots); empty = <root_dir>/cni."`
	// NetworkName is the name of the default network written when ConfDir has no config.
	NetworkName string `toml:"network_name" comment:"Name of the default network written into an empty conf_dir."`
	// BridgeName is the Linux bridge of the default network.
	BridgeName string `toml:"bridge_name" comment:"Linux bridge of the default network."`
	// DefaultSubnet is the IPv4 pod subnet of the default network.
	DefaultSubnet string `toml:"default_subnet" comment:"IPv4 pod subnet of the default network (replaced by the kubelet pod CIDR when it sends one)."`
	// DefaultSubnetV6 is the IPv6 pod subnet of the default network; empty means none.
	DefaultSubnetV6 string `toml:"default_subnet_v6" comment:"IPv6 pod subnet of the default network; empty = IPv4 only."`
	// WriteDefault writes (and later updates on UpdatePodCIDR) the default network config
	// when ConfDir holds no config at all.
	WriteDefault bool `toml:"write_default" comment:"Write the default bridge network when conf_dir has no config."`
}

// DefaultConfig returns the configuration used when the TOML file has no [cni] section.
func DefaultConfig() Config {
	return Config{
		ConfDir:       "/etc/cni/net.d",
		BinDirs:       []string{"/opt/cni/bin", "/usr/lib/cni"},
		NetworkName:   "crishim",
		BridgeName:    "crishim0",
		DefaultSubnet: "10.88.0.0/16",
		WriteDefault:  true,
	}
}

// Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
var ifNameRE = regexp.MustCompile(`^[^/:\s]{1,15}$`)

// CNI network names (libcni's rule).
var netNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("cni config: %s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
	}
	if c.ConfDir == "" || !filepath.IsAbs(c.ConfDir) {
		return bad("conf_dir", "must be an absolute path, got %q", c.ConfDir)
	}
	if len(c.BinDirs) == 0 {
		return bad("bin_dirs", "at least one directory is needed")
	}
	for _, d := range c.BinDirs {
		if !filepath.IsAbs(d) {
			return bad("bin_dirs", "must be absolute paths, got %q", d)
		}
	}
	if c.CacheDir != "" && !filepath.IsAbs(c.CacheDir) {
		return bad("cache_dir", "must be an absolute path, got %q", c.CacheDir)
	}
	if !netNameRE.MatchString(c.NetworkName) {
		return bad("network_name", "invalid network name %q", c.NetworkName)
	}
	if !ifNameRE.MatchString(c.BridgeName) {
		return bad("bridge_name", "invalid interface name %q", c.BridgeName)
	}
	if err := checkSubnet(c.DefaultSubnet, false); err != nil {
		return bad("default_subnet", "%v", err)
	}
	if c.DefaultSubnetV6 != "" {
		if err := checkSubnet(c.DefaultSubnetV6, true); err != nil {
			return bad("default_subnet_v6", "%v", err)
		}
	}
	return nil
}

// checkSubnet accepts a CIDR of the wanted family with room for at least two pods.
func checkSubnet(s string, v6 bool) error {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return err
	}
	if (ip.To4() == nil) != v6 {
		if v6 {
			return fmt.Errorf("%q is not an IPv6 subnet", s)
		}
		return fmt.Errorf("%q is not an IPv4 subnet", s)
	}
	ones, bits := n.Mask.Size()
	if bits-ones < 2 {
		return fmt.Errorf("%q is too small", s)
	}
	return nil
}
