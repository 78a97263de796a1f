package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

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
// /dev/shm under <state>/sandbox), then garbage-collects network attachments of pods that no
// longer exist.
func newSandboxes(ctx context.Context, cfg Config, network *cni.Manager, ctrs sandbox.Containers, log *slog.Logger) (*sandbox.Manager, error) {
	var net sandbox.Network
	if network != nil {
		net = podNetwork{network}
	}
	m, err := sandbox.New(cfg.Sandbox, filepath.Join(cfg.RootDir, "sandbox"), filepath.Join(cfg.StateDir, "sandbox"),
		cfg.Runtime.CgroupParent, net, ctrs, log)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if network != nil {
		var ids []string
		for _, sb := range m.List() {
			ids = append(ids, sb.ID)
		}
		if err := network.GC(ctx, ids); err != nil {
			log.Warn("CNI garbage collection at start", "err", err)
		}
	}
	return m, nil
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
