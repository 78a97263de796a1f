package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/containernetworking/cni/libcni"

	"github.com/crishim/crishim/internal/store"
)

// DefaultConfFile is the file name of the network config crishim writes into an empty
// config dir. Only this file is ever rewritten by crishim (UpdatePodCIDR).
const DefaultConfFile = "10-crishim.conflist"

// fallbackCNIVersion is used when the installed plugins cannot be asked (missing binaries).
// Debian 12's containernetworking-plugins 1.1.1 support up to 1.0.0.
const fallbackCNIVersion = "1.0.0"

// preferredVersions lists the spec versions the default network may use, newest first.
var preferredVersions = []string{"1.1.0", "1.0.0", "0.4.0"}

// defaultPlugins are the plugin types the default network runs (loopback is brought up by
// crishim itself, without a plugin exec).
var defaultPlugins = []string{"bridge", "host-local", "portmap"}

// subnets are the pod subnets of the default network.
type subnets struct {
	v4, v6 string
}

// defaultConfList renders the default network: a bridge with host-local IPAM on the pod
// subnets, masquerade of outgoing traffic, and portmap for hostPorts.
func defaultConfList(cfg Config, cniVersion, dataDir string, s subnets) ([]byte, error) {
	ranges := [][]map[string]string{{{"subnet": s.v4}}}
	routes := []map[string]string{{"dst": "0.0.0.0/0"}}
	if s.v6 != "" {
		ranges = append(ranges, []map[string]string{{"subnet": s.v6}})
		routes = append(routes, map[string]string{"dst": "::/0"})
	}
	list := map[string]any{
		"cniVersion": cniVersion,
		"name":       cfg.NetworkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      cfg.BridgeName,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  ranges,
					"routes":  routes,
					"dataDir": dataDir,
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// pickCNIVersion returns the newest preferred spec version every default plugin supports.
func pickCNIVersion(ctx context.Context, c *libcni.CNIConfig) string {
	supported := map[string]int{}
	for _, p := range defaultPlugins {
		info, err := c.GetVersionInfo(ctx, p)
		if err != nil {
			return fallbackCNIVersion
		}
		for _, v := range info.SupportedVersions() {
			supported[v]++
		}
	}
	for _, v := range preferredVersions {
		if supported[v] == len(defaultPlugins) {
			return v
		}
	}
	return fallbackCNIVersion
}

// writeDefault writes the default network config into the config dir, creating the dir.
func (m *Manager) writeDefault(ctx context.Context, s subnets) error {
	if err := os.MkdirAll(m.cfg.ConfDir, 0o755); err != nil {
		return fmt.Errorf("create cni config dir: %w", err)
	}
	version := pickCNIVersion(ctx, m.cni)
	b, err := defaultConfList(m.cfg, version, filepath.Join(m.cacheDir, "networks"), s)
	if err != nil {
		return err
	}
	path := filepath.Join(m.cfg.ConfDir, DefaultConfFile)
	if old, err := os.ReadFile(path); err == nil && slices.Equal(old, b) {
		return nil
	}
	if err := store.WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("write default cni config %s: %w", path, err)
	}
	m.log.Info("wrote default cni network config", "path", path, "cniVersion", version,
		"subnet", s.v4, "subnetV6", s.v6)
	return nil
}
