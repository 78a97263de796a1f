package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// podCIDRFile holds the node's pod CIDRs under the cache dir: the kubelet sends them once
// (UpdateRuntimeConfig) and does not send them again after a restart of crishim.
const podCIDRFile = "pod-cidrs.json"

// podCIDRRecord is the persisted form of subnets.
type podCIDRRecord struct {
	V4 string `json:"v4,omitempty"`
	V6 string `json:"v6,omitempty"`
}

// parsePodCIDRs parses the kubelet's pod CIDR: "a", or "a,b" with one CIDR of each family.
// Each CIDR must leave room for pods; host bits are dropped (host-local wants the network
// address). The error names the offending CIDR.
func parsePodCIDRs(cidr string) (subnets, error) {
	var s subnets
	for _, c := range strings.Split(cidr, ",") {
		c = strings.TrimSpace(c)
		bad := func(why string) error {
			return fmt.Errorf("cni: pod CIDR %q: %s: %w", c, why, errdefs.ErrInvalidArgument)
		}
		if c == "" {
			return subnets{}, bad("empty entry in " + fmt.Sprintf("%q", cidr))
		}
		ip, n, err := net.ParseCIDR(c)
		if err != nil {
			return subnets{}, bad(err.Error())
		}
		v6 := ip.To4() == nil
		if err := checkSubnet(n.String(), v6); err != nil {
			return subnets{}, bad(err.Error())
		}
		slot, family := &s.v4, "IPv4"
		if v6 {
			slot, family = &s.v6, "IPv6"
		}
		if *slot != "" {
			return subnets{}, bad("a second " + family + " CIDR (at most one per family)")
		}
		*slot = n.String()
	}
	return s, nil
}

// UpdatePodCIDR takes the node's pod CIDR(s) from the kubelet ("a" or "a,b" for dual stack;
// empty: nothing to do). They are persisted, passed to plugins as the ipRanges capability and,
// when the network in use is crishim's default one, become its subnets: pods set up from then
// on get addresses from them, pods already running keep theirs. Another network is left alone.
func (m *Manager) UpdatePodCIDR(ctx context.Context, cidr string) error {
	if strings.TrimSpace(cidr) == "" {
		return nil
	}
	s, err := parsePodCIDRs(cidr)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s != m.podCIDRs {
		rec := podCIDRRecord{V4: s.v4, V6: s.v6}
		if err := store.WriteJSON(filepath.Join(m.cacheDir, podCIDRFile), rec); err != nil {
			return fmt.Errorf("cni: record pod CIDR %q: %w", cidr, err)
		}
		m.podCIDRs = s
		m.log.Info("pod CIDR updated", "podCIDR", cidr)
	}
	return m.applyPodCIDRs(ctx)
}

// loadPodCIDRs reads the persisted pod CIDRs, if any.
func (m *Manager) loadPodCIDRs() error {
	store.CleanTemps(m.cacheDir)
	var rec podCIDRRecord
	path := filepath.Join(m.cacheDir, podCIDRFile)
	if err := store.ReadJSON(path, &rec); errors.Is(err, errdefs.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("cni: pod CIDR record: %w", err)
	}
	s, err := parsePodCIDRs(strings.Trim(rec.V4+","+rec.V6, ","))
	if err != nil {
		return fmt.Errorf("cni: pod CIDR record %s: %w", path, err)
	}
	m.podCIDRs = s
	return nil
}

// applyPodCIDRs rewrites crishim's default network with the current subnets when it is the
// network in use (writing it into an empty conf dir). Callers hold m.mu.
func (m *Manager) applyPodCIDRs(ctx context.Context) error {
	n, err := m.currentLocked(ctx)
	if err != nil {
		// Not a failure of the update: the CIDRs are recorded and used once a network loads.
		m.log.Warn("pod CIDR recorded, but no cni network is loaded", "err", err)
		return nil
	}
	if !m.isDefault(n) {
		m.log.Info("pod CIDR not applied: the cni network in use is not crishim's default one",
			"network", n.list.Name, "file", n.file, "podCIDR", strings.Trim(m.podCIDRs.v4+","+m.podCIDRs.v6, ","))
		return nil
	}
	sn := m.subnets()
	gw, err := gatewayOf(sn.v4)
	if err == nil {
		err = moveBridgeGateway(m.cfg.BridgeName, gw)
	}
	if err != nil {
		return fmt.Errorf("cni: update pod CIDR: %w", err)
	}
	if err := m.writeDefault(ctx, sn); err != nil {
		return fmt.Errorf("cni: update pod CIDR: %w", err)
	}
	m.loaded = false // reload even if size and mtime happen to look unchanged
	return nil
}

// isDefault tells whether n is the default network crishim writes (its file and its name).
func (m *Manager) isDefault(n *network) bool {
	return m.cfg.WriteDefault && n.list.Name == m.cfg.NetworkName &&
		n.file == filepath.Join(filepath.Clean(m.cfg.ConfDir), DefaultConfFile)
}
