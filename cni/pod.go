package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/crishim/crishim/internal/errdefs"
)

// PodNetwork describes the pod being attached or detached.
type PodNetwork struct {
	ID, Name, Namespace, UID string
	// NetNS is the path of the pod's pinned network namespace; empty or gone on Teardown
	// means the namespace no longer exists.
	NetNS        string
	PortMappings []PortMapping
	DNS          *DNS
	Bandwidth    *Bandwidth
	// CgroupParent is passed as the cgroupPath capability.
	CgroupParent string
}

// PortMapping is one hostPort of the pod.
type PortMapping struct {
	Protocol      string // tcp, udp or sctp (lower case); empty means tcp
	ContainerPort int32
	HostPort      int32
	HostIP        string
}

// DNS is the pod's DNS config, passed as the dns capability.
type DNS struct {
	Servers, Searches, Options []string
}

// Bandwidth limits the pod's traffic (bits per second, burst in bits); zero = unlimited.
type Bandwidth struct {
	IngressRate, IngressBurst, EgressRate, EgressBurst uint64
}

// Result is what the network gave the pod.
type Result struct {
	// IPs are the pod's addresses: the first is the primary one, IPv4 before IPv6.
	IPs []net.IP
	// Interfaces are the interfaces the plugins created or configured.
	Interfaces []Interface
}

// Interface is one interface of a CNI result.
type Interface struct {
	Name, MAC string
	// Sandbox is the netns path for pod-side interfaces, empty for host-side ones.
	Sandbox string
}

// runtimeConf builds the per-invocation arguments of a pod: K8S_POD_* args and the
// capability args plugins opt into.
func (m *Manager) runtimeConf(pod PodNetwork) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: pod.ID,
		NetNS:       pod.NetNS,
		IfName:      IfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
			{"K8S_POD_UID", pod.UID},
		},
		CapabilityArgs: map[string]any{},
	}
	caps := rt.CapabilityArgs
	var pms []map[string]any
	for _, p := range pod.PortMappings {
		if p.HostPort <= 0 {
			continue // a containerPort without hostPort is informational only
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		pms = append(pms, map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort,
			"protocol": proto, "hostIP": p.HostIP})
	}
	if len(pms) > 0 {
		caps["portMappings"] = pms
	}
	if d := pod.DNS; d != nil {
		caps["dns"] = map[string][]string{"servers": d.Servers, "searches": d.Searches, "options": d.Options}
	}
	if b := pod.Bandwidth; b != nil {
		caps["bandwidth"] = map[string]uint64{"ingressRate": b.IngressRate, "ingressBurst": b.IngressBurst,
			"egressRate": b.EgressRate, "egressBurst": b.EgressBurst}
	}
	if pod.CgroupParent != "" {
		caps["cgroupPath"] = pod.CgroupParent
	}
	m.mu.Lock()
	var ranges [][]map[string]string
	for _, s := range []string{m.podCIDRs.v4, m.podCIDRs.v6} {
		if s != "" {
			ranges = append(ranges, []map[string]string{{"subnet": s}})
		}
	}
	m.mu.Unlock()
	if len(ranges) > 0 {
		caps["ipRanges"] = ranges
	}
	return rt
}

// Setup attaches the pod to the network (CNI ADD, loopback up) and returns its IPs. The
// attachment is recorded before ADD so that a crash half-way is cleaned up by Teardown or GC.
// On failure everything ADD did is undone with a DEL.
func (m *Manager) Setup(ctx context.Context, pod PodNetwork) (*Result, error) {
	if pod.ID == "" || pod.NetNS == "" {
		return nil, fmt.Errorf("cni: setup pod %s: id and netns are required: %w", podName(pod), errdefs.ErrInvalidArgument)
	}
	if strings.ContainsRune(pod.Name+pod.Namespace+pod.UID+pod.ID+pod.NetNS, 0) {
		// A plugin's environment cannot hold it: ADD would fail, and so would every DEL.
		return nil, fmt.Errorf("cni: setup pod %s: a NUL byte in its name, namespace, uid, id or netns: %w", podName(pod), errdefs.ErrInvalidArgument)
	}
	n, err := m.current(ctx)
	if err != nil {
		return nil, fmt.Errorf("cni: setup pod %s: %w", podName(pod), err)
	}
	if err := m.findPlugins(n); err != nil {
		return nil, fmt.Errorf("cni: setup pod %s: %w", podName(pod), err)
	}
	rt := m.runtimeConf(pod)
	rec := record{ID: pod.ID, Pod: podName(pod), Network: n.list.Name, Config: n.list.Bytes,
		NetNS: pod.NetNS, IfName: rt.IfName, Args: rt.Args, CapabilityArgs: rt.CapabilityArgs}
	if err := m.writeRecord(rec); err != nil {
		return nil, fmt.Errorf("cni: setup pod %s: %w", podName(pod), err)
	}
	if err := loopbackUp(pod.NetNS); err != nil {
		m.undoSetup(ctx, pod, rec)
		return nil, fmt.Errorf("cni: setup pod %s: %w: %w", podName(pod), err, errdefs.ErrFailedPrecondition)
	}
	res, err := m.cni.AddNetworkList(ctx, n.list, rt)
	if err != nil && isIptablesRace(err) && ctx.Err() == nil {
		// Concurrent plugins racing to create a shared chain (portmap's CNI-HOSTPORT-* on the
		// first hostPort pods of a node) fail with "File exists": undo and try once more.
		m.log.Warn("CNI ADD failed on an iptables race, retrying", "pod", podName(pod), "err", err)
		m.undoSetup(ctx, pod, rec)
		if err = m.writeRecord(rec); err == nil {
			res, err = m.cni.AddNetworkList(ctx, n.list, rt)
		}
	}
	if err != nil {
		m.undoSetup(ctx, pod, rec)
		return nil, fmt.Errorf("cni: setup pod %s on network %q: %w: %w", podName(pod), n.list.Name, err, kindOf(ctx, err))
	}
	out, err := convertResult(res)
	if err != nil {
		m.undoSetup(ctx, pod, rec)
		return nil, fmt.Errorf("cni: setup pod %s on network %q: %w", podName(pod), n.list.Name, err)
	}
	m.log.Debug("pod network set up", "pod", podName(pod), "id", pod.ID, "ips", out.IPs)
	return out, nil
}

// findPlugins fails fast, before any side effect, when a plugin binary of the network is
// missing (a half-done ADD could not be undone without it either).
func (m *Manager) findPlugins(n *network) error {
	if err := m.missingPlugin(n.list); err != nil {
		return fmt.Errorf("network %q (%s): %w", n.list.Name, n.file, err)
	}
	return nil
}

// missingPlugin names the first plugin of list not found in the bin dirs
// (errdefs.ErrFailedPrecondition), or returns nil.
func (m *Manager) missingPlugin(list *libcni.NetworkConfigList) error {
	for _, p := range list.Plugins {
		for _, t := range []string{p.Network.Type, p.Network.IPAM.Type} {
			if t == "" {
				continue
			}
			if _, err := invoke.FindInPath(t, m.cfg.BinDirs); err != nil {
				return fmt.Errorf("plugin %q not found in %s: %w", t, strings.Join(m.cfg.BinDirs, ":"), errdefs.ErrFailedPrecondition)
			}
		}
	}
	return nil
}

// undoSetup runs DEL after a failed setup, even when ctx is already cancelled.
func (m *Manager) undoSetup(ctx context.Context, pod PodNetwork, rec record) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	if err := m.teardownRecord(ctx, rec, pod.NetNS); err != nil {
		m.log.Warn("undo of failed pod network setup failed; Teardown or GC will retry",
			"pod", podName(pod), "id", pod.ID, "err", err)
	}
}

// convertResult turns a plugin result into pod IPs (pod-side interfaces only, v4 first).
func convertResult(res cnitypes.Result) (*Result, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("convert CNI result: %w", err)
	}
	out := &Result{}
	for _, i := range r.Interfaces {
		out.Interfaces = append(out.Interfaces, Interface{Name: i.Name, MAC: i.Mac, Sandbox: i.Sandbox})
	}
	var v4, v6 []net.IP
	for _, ip := range r.IPs {
		if ip.Interface != nil && *ip.Interface >= 0 && *ip.Interface < len(r.Interfaces) &&
			r.Interfaces[*ip.Interface].Sandbox == "" {
			continue // a host-side address, not the pod's
		}
		if v := ip.Address.IP.To4(); v != nil {
			v4 = append(v4, v)
		} else {
			v6 = append(v6, ip.Address.IP)
		}
	}
	out.IPs = append(v4, v6...)
	if len(out.IPs) == 0 {
		return nil, errors.New("the CNI result has no pod IP")
	}
	return out, nil
}

// isIptablesRace reports an iptables failure that a second attempt usually fixes.
func isIptablesRace(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "iptables") && (strings.Contains(msg, "File exists") ||
		strings.Contains(msg, "Resource temporarily unavailable") || strings.Contains(msg, "exit status 4"))
}

// podName names a pod in errors and logs: namespace/name (id).
func podName(p PodNetwork) string {
	return fmt.Sprintf("%s/%s (%.12s)", p.Namespace, p.Name, p.ID)
}

// kindOf classifies a plugin failure: a deadline is reported as such, everything else as
// unavailable (the kubelet retries).
func kindOf(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errdefs.ErrDeadlineExceeded
	}
	return errdefs.ErrUnavailable
}
