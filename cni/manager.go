// Package cni attaches pods to the node's CNI network through libcni: it loads the config
// dir (writing a default bridge network into an empty one), runs ADD/DEL/CHECK/STATUS/GC and
// turns results into pod IPs. It is the only importer of libcni and knows nothing of CRI.
//
// Callers must tear a pod down (Teardown) before unpinning its network namespace: plugins
// such as bridge 1.1.x cannot remove their ipMasq rules once the netns is gone
// (containernetworking/plugins#810); after a reboot those rules are gone anyway and
// Teardown/GC still release the IP lease. Host-network pods must not call Setup at all.
package cni

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// IfName is the pod-side interface name of the network.
const IfName = "eth0"

// Manager attaches pods to the CNI network. Its methods are safe for concurrent use; calls
// for the same pod must not overlap (the caller serialises per pod).
type Manager struct {
	cfg       Config
	log       *slog.Logger
	cni       *libcni.CNIConfig
	cacheDir  string // libcni cache + host-local leases of the default network
	recordDir string // our attachment records, written before each ADD

	mu          sync.Mutex
	loaded      bool
	fingerprint string
	net         *network
	netErr      error
	podCIDRs    subnets
	versions    map[string]pluginVersions
}

// pluginVersions caches the spec versions a plugin binary supports.
type pluginVersions struct {
	size     int64
	mtime    time.Time
	versions []string
}

// New validates cfg, prepares the cache dir (cfg.CacheDir, else <rootDir>/cni) and loads
// the network config. rootDir must be persistent (the daemon's root_dir, not the tmpfs run
// dir): DEL after a reboot needs what is cached there. A missing or invalid network is not an
// error here: Status reports it.
func New(cfg Config, rootDir string, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		if !filepath.IsAbs(rootDir) {
			return nil, fmt.Errorf("cni: root dir %q must be absolute: %w", rootDir, errdefs.ErrInvalidArgument)
		}
		cacheDir = filepath.Join(rootDir, "cni")
	}
	m := &Manager{
		cfg:       cfg,
		log:       log,
		cacheDir:  cacheDir,
		recordDir: filepath.Join(cacheDir, "pods"),
		cni:       libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cacheDir, nil),
		versions:  map[string]pluginVersions{},
	}
	if err := os.MkdirAll(m.recordDir, 0o700); err != nil {
		return nil, fmt.Errorf("cni: create cache dir: %w", err)
	}
	store.CleanTemps(m.recordDir)
	if _, err := exec.LookPath("iptables"); err != nil {
		// Plugins inherit our environment; bridge (ipMasq) and portmap exec iptables.
		log.Warn("iptables not found in PATH: bridge ipMasq and portmap plugins will fail", "PATH", os.Getenv("PATH"))
	}
	if err := m.loadPodCIDRs(); err != nil {
		return nil, err
	}
	if _, err := m.current(context.Background()); err != nil {
		log.Warn("cni network not ready", "err", err)
	} else if m.podCIDRs != (subnets{}) {
		// A crash between recording the node's CIDRs and rewriting the default network
		// leaves the file behind: bring it up to date before the first pod.
		m.mu.Lock()
		err := m.applyPodCIDRs(context.Background())
		m.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// subnets returns the default network's subnets: the pod CIDR when the kubelet gave one,
// else the configured subnets. Callers hold m.mu.
func (m *Manager) subnets() subnets {
	s := subnets{v4: m.cfg.DefaultSubnet, v6: m.cfg.DefaultSubnetV6}
	if m.podCIDRs.v4 != "" {
		s.v4 = m.podCIDRs.v4
	}
	if m.podCIDRs.v6 != "" {
		s.v6 = m.podCIDRs.v6
	}
	return s
}

// Status returns nil when pods can be networked, else an error saying why: no valid config,
// a plugin binary missing or not supporting the config's version, or a failed CNI STATUS.
func (m *Manager) Status(ctx context.Context) error {
	n, err := m.current(ctx)
	if err != nil {
		return err
	}
	for _, p := range n.list.Plugins {
		types := []string{p.Network.Type}
		if p.Network.IPAM.Type != "" {
			types = append(types, p.Network.IPAM.Type)
		}
		for _, t := range types {
			if err := m.checkPlugin(ctx, n, t); err != nil {
				return err
			}
		}
	}
	if err := m.cni.GetStatusNetworkList(ctx, n.list); err != nil {
		return fmt.Errorf("cni: network %q: STATUS: %w: %w", n.list.Name, err, errdefs.ErrUnavailable)
	}
	return nil
}

// checkPlugin finds a plugin binary and checks it supports the network's spec version; the
// version answer is cached per binary (size, mtime) since Status runs every few seconds.
func (m *Manager) checkPlugin(ctx context.Context, n *network, typ string) error {
	path, err := invoke.FindInPath(typ, m.cfg.BinDirs)
	if err != nil {
		return fmt.Errorf("cni: network %q (%s): plugin %q not found in %s: %w",
			n.list.Name, n.file, typ, strings.Join(m.cfg.BinDirs, ":"), errdefs.ErrFailedPrecondition)
	}
	want := n.list.CNIVersion
	if want == "" {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cni: plugin %q: %w: %w", typ, err, errdefs.ErrFailedPrecondition)
	}
	m.mu.Lock()
	pv, ok := m.versions[path]
	m.mu.Unlock()
	if !ok || pv.size != info.Size() || !pv.mtime.Equal(info.ModTime()) {
		vi, err := invoke.GetVersionInfo(ctx, path, nil)
		if err != nil {
			return fmt.Errorf("cni: plugin %q (%s): VERSION: %w: %w", typ, path, err, errdefs.ErrFailedPrecondition)
		}
		pv = pluginVersions{size: info.Size(), mtime: info.ModTime(), versions: vi.SupportedVersions()}
		m.mu.Lock()
		m.versions[path] = pv
		m.mu.Unlock()
	}
	if !slices.Contains(pv.versions, want) {
		return fmt.Errorf("cni: network %q (%s): plugin %q supports CNI versions %v, not %s: %w",
			n.list.Name, n.file, typ, pv.versions, want, errdefs.ErrFailedPrecondition)
	}
	return nil
}
