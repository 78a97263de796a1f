package cni

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestRootUpdatePodCIDR moves the default network to a new pod CIDR between two pods: the pod
// set up after the update gets an address from the new CIDR, the pod set up before keeps its
// address and stays reachable, and after a restart (a new Manager on the same root and config
// dir, without a new update) a new pod still gets an address from the new CIDR.
func TestRootUpdatePodCIDR(t *testing.T) {
	e := newRootEnv(t)
	ctx := context.Background()
	a := e.pod(t, "before")
	ra, err := e.m.Setup(ctx, a)
	if err != nil {
		t.Fatalf("Setup before the update: %v", err)
	}
	if len(ra.IPs) != 1 || !e.subnet.Contains(ra.IPs[0]) {
		t.Fatalf("pod IPs %v not in the configured subnet %s", ra.IPs, e.subnet)
	}

	_, podCIDR, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", e.subnet.IP[1]^1, e.subnet.IP[2]))
	if err := e.m.UpdatePodCIDR(ctx, podCIDR.String()); err != nil {
		t.Fatalf("UpdatePodCIDR(%s): %v", podCIDR, err)
	}
	b := e.pod(t, "after")
	rb, err := e.m.Setup(ctx, b)
	if err != nil {
		t.Fatalf("Setup after the update: %v", err)
	}
	if len(rb.IPs) != 1 || !podCIDR.Contains(rb.IPs[0]) {
		t.Fatalf("pod set up after the update got %v, want an address in %s", rb.IPs, podCIDR)
	}
	if err := e.m.Check(ctx, a); err != nil {
		t.Errorf("Check of the pod set up before the update: %v", err)
	}
	if got := podAddrs(t, a.NetNS); len(got) != 1 || !got[0].Equal(ra.IPs[0]) {
		t.Errorf("pod set up before the update has %v on %s, want %v", got, IfName, ra.IPs[0])
	}
	echoServer(t, a.NetNS, 8080)
	if err := roundTrip(b.NetNS, net.JoinHostPort(ra.IPs[0].String(), "8080")); err != nil {
		t.Errorf("new pod → old pod across the two subnets: %v", err)
	}

	// Restart: nobody sends the pod CIDR again.
	m2, err := New(e.cfg, e.state, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	e.m = m2
	c := e.pod(t, "after-restart")
	rc, err := e.m.Setup(ctx, c)
	if err != nil {
		t.Fatalf("Setup after the restart: %v", err)
	}
	if len(rc.IPs) != 1 || !podCIDR.Contains(rc.IPs[0]) {
		t.Fatalf("pod set up after a restart got %v, want an address in %s", rc.IPs, podCIDR)
	}
	for _, p := range []PodNetwork{a, b, c} {
		if err := e.m.Teardown(ctx, p); err != nil {
			t.Fatalf("Teardown %s: %v", p.Name, err)
		}
	}

	// A bridge without pods keeps no stale gateway: the node case of a bridge left from
	// before the kubelet's first update.
	_, third, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", e.subnet.IP[1], e.subnet.IP[2]^1))
	if err := e.m.UpdatePodCIDR(ctx, third.String()); err != nil {
		t.Fatalf("UpdatePodCIDR(%s): %v", third, err)
	}
	d := e.pod(t, "empty-bridge")
	rd, err := e.m.Setup(ctx, d)
	if err != nil {
		t.Fatalf("Setup on a bridge that had another subnet: %v", err)
	}
	if len(rd.IPs) != 1 || !third.Contains(rd.IPs[0]) {
		t.Fatalf("pod got %v, want an address in %s", rd.IPs, third)
	}
	br, err := netlink.LinkByName(e.bridge)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || !third.Contains(addrs[0].IP) {
		t.Errorf("bridge addresses %v, want only the gateway of %s", addrs, third)
	}
	if err := e.m.Teardown(ctx, d); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	e.assertClean(t)
}

// podAddrs lists the IPv4 addresses on the pod's interface.
func podAddrs(t *testing.T, nsPath string) []net.IP {
	t.Helper()
	var ips []net.IP
	err := inNetNS(nsPath, func() error {
		ifc, err := net.InterfaceByName(IfName)
		if err != nil {
			return err
		}
		addrs, err := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				ips = append(ips, n.IP)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ips
}
