package cni

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// gatewayOf is the gateway host-local hands out for subnet (its first address), with the
// subnet's prefix, as the bridge plugin puts it on the bridge.
func gatewayOf(subnet string) (*net.IPNet, error) {
	_, n, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, err
	}
	gw := make(net.IP, len(n.IP))
	copy(gw, n.IP)
	gw[len(gw)-1]++
	return &net.IPNet{IP: gw, Mask: n.Mask}, nil
}

// moveBridgeGateway prepares an existing bridge of the default network for a new IPv4
// subnet. The bridge plugin refuses to add a pod when the bridge's first IPv4 address is not
// the new gateway ("already has an IP address different from"), and with forceAddress it
// would remove the old gateway that running pods route through. So the new gateway is put
// first and the old addresses are kept after it while pods are attached (they keep their
// addresses and their route out); on a bridge without pods the old addresses are dropped.
// A bridge that does not exist yet is left to the plugin.
func moveBridgeGateway(bridge string, gw *net.IPNet) error {
	br, err := netlink.LinkByName(bridge)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("bridge %s: list addresses: %w", bridge, err)
	}
	if len(addrs) > 0 && addrs[0].IPNet.String() == gw.String() {
		return nil
	}
	var old []netlink.Addr
	for _, a := range addrs {
		if a.IPNet.String() == gw.String() {
			continue
		}
		if err := netlink.AddrDel(br, &a); err != nil {
			return fmt.Errorf("bridge %s: remove %s: %w", bridge, a.IPNet, err)
		}
		old = append(old, a)
	}
	// Addresses of one scope are listed in the order they were added.
	if err := netlink.AddrReplace(br, &netlink.Addr{IPNet: gw}); err != nil {
		return fmt.Errorf("bridge %s: add gateway %s: %w", bridge, gw, err)
	}
	if !hasPorts(br) {
		return nil
	}
	for _, a := range old {
		a.Label = ""
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: a.IPNet, Broadcast: a.Broadcast}); err != nil {
			return fmt.Errorf("bridge %s: keep %s for the pods on it: %w", bridge, a.IPNet, err)
		}
	}
	return nil
}

// hasPorts reports whether any link is attached to the bridge.
func hasPorts(br netlink.Link) bool {
	links, err := netlink.LinkList()
	if err != nil {
		return true // keep the old addresses when unsure
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			return true
		}
	}
	return false
}
