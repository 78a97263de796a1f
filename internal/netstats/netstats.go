// Package netstats reads the per-interface counters of a network namespace pinned as a file
// (a pod's netns), through netlink, without moving any long-lived thread into it.
package netstats

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Interface holds the counters of one network interface.
type Interface struct {
	Name                                    string
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// Read returns the counters of every interface but loopback in the network namespace
// pinned at nsPath, sorted by name.
func Read(nsPath string) ([]Interface, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer ns.Close()
	// The handle's socket is opened inside the namespace (on a briefly locked thread); all
	// later requests go through that socket from any thread.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in netns %s: %w", nsPath, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in netns %s: %w", nsPath, err)
	}
	var out []Interface
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 {
			continue
		}
		i := Interface{Name: a.Name}
		if s := a.Statistics; s != nil {
			i.RxBytes, i.RxPackets, i.RxErrors, i.RxDropped = s.RxBytes, s.RxPackets, s.RxErrors, s.RxDropped
			i.TxBytes, i.TxPackets, i.TxErrors, i.TxDropped = s.TxBytes, s.TxPackets, s.TxErrors, s.TxDropped
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
