package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/cni"
	"github.com/crishim/crishim/sandbox"
)

// podNetwork adapts the CNI manager to the sandbox package's Network interface.
type podNetwork struct{ cni *cni.Manager }

func cniPod(p sandbox.NetworkPod) cni.PodNetwork {
	out := cni.PodNetwork{ID: p.ID, Name: p.Name, Namespace: p.Namespace, UID: p.UID,
		NetNS: p.NetNSPath, CgroupParent: p.CgroupParent}
	for _, pm := range p.PortMappings {
		out.PortMappings = append(out.PortMappings, cni.PortMapping{Protocol: pm.Protocol,
			ContainerPort: pm.ContainerPort, HostPort: pm.HostPort, HostIP: pm.HostIP})
	}
	if p.DNS != nil {
		out.DNS = &cni.DNS{Servers: p.DNS.Servers, Searches: p.DNS.Searches, Options: p.DNS.Options}
	}
	return out
}

func (n podNetwork) Setup(ctx context.Context, p sandbox.NetworkPod) ([]string, error) {
	res, err := n.cni.Setup(ctx, cniPod(p))
	if err != nil {
		return nil, err
	}
	ips := make([]string, 0, len(res.IPs))
	for _, ip := range res.IPs {
		ips = append(ips, ip.String())
	}
	return ips, nil
}

func (n podNetwork) Teardown(ctx context.Context, p sandbox.NetworkPod) error {
	return n.cni.Teardown(ctx, cniPod(p))
}

func (n podNetwork) Status(ctx context.Context) error { return n.cni.Status(ctx) }

// newSandboxes builds the pod sandbox manager (records under <root>/sandbox, pins and
// /dev/shm under <state>/sandbox).
func newSandboxes(cfg Config, network *cni.Manager, ctrs sandbox.Containers, log *slog.Logger) (*sandbox.Manager, error) {
	var net sandbox.Network
	if network != nil {
		net = podNetwork{network}
	}
	m, err := sandbox.New(cfg.Sandbox, filepath.Join(cfg.RootDir, "sandbox"), filepath.Join(cfg.StateDir, "sandbox"),
		cfg.Runtime.CgroupParent, net, ctrs, log)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return m, nil
}

// networkGCTimeout bounds the start-up CNI garbage collection (new pods wait for it to attach).
const networkGCTimeout = time.Minute

// collectNetworks releases the network attachments of pods that no longer exist (a daemon
// killed while removing a pod, a teardown given up on). The daemon runs it in the background
// once it serves: a leftover whose DEL keeps failing must not hold the socket back (it used
// to delay serving by the DEL retries). The sandbox manager keeps new pods' ADDs out while it
// runs, so a pod being created is never taken for a leftover.
func collectNetworks(ctx context.Context, m *sandbox.Manager, network *cni.Manager, log *slog.Logger) {
	if network == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, networkGCTimeout)
	defer cancel()
	start := time.Now()
	if err := m.CollectNetworks(ctx, network.GC); err != nil {
		log.Warn("CNI garbage collection at start", "err", err, "took", time.Since(start))
		return
	}
	log.Info("CNI garbage collection at start done", "took", time.Since(start))
}

// newPodHelperCommands returns the hidden subcommands the sandbox package re-executes: the
// namespace helper and the infra process. Their arguments are parsed by the sandbox package.
func newPodHelperCommands() []*cobra.Command {
	mk := func(name string, entry func([]string) int) *cobra.Command {
		return &cobra.Command{
			Use: name, Hidden: true, DisableFlagParsing: true,
			Run: func(_ *cobra.Command, args []string) { os.Exit(entry(args)) },
		}
	}
	return []*cobra.Command{mk(sandbox.DefaultHelperSubcommand, sandbox.HelperMain),
		mk(sandbox.DefaultInfraSubcommand, sandbox.InfraMain)}
}
