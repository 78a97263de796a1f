package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/sandbox"
)

// defaultPodCgroupParent is the parent of pod cgroups for pods without a cgroup_parent.
// TODO(lead): replace with the [runtime] cgroup_parent once runtime.Config lands.
const defaultPodCgroupParent = "/crishim"

// noContainers stands in for the container runtime until runtime.Manager is wired: pods have
// no containers to stop or remove.
type noContainers struct{}

func (noContainers) StopPodContainers(context.Context, string) error   { return nil }
func (noContainers) RemovePodContainers(context.Context, string) error { return nil }

// newSandboxes builds the pod sandbox manager: records under <root>/sandbox, pins and /dev/shm
// under <state>/sandbox. The network is nil (loopback-only pods) until cni/ is wired.
func newSandboxes(cfg Config, log *slog.Logger) (*sandbox.Manager, error) {
	m, err := sandbox.New(cfg.Sandbox, filepath.Join(cfg.RootDir, "sandbox"), filepath.Join(cfg.StateDir, "sandbox"),
		defaultPodCgroupParent, nil, noContainers{}, log)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
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
