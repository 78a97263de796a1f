package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/internal/preflight"
)

func newCheckCommand(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check that this host can run crishim (one line per requirement; non-zero exit on a failure)",
		Long: "check verifies the kernel (overlayfs, namespaces, user namespaces, idmapped mounts, seccomp),\n" +
			"the cgroup mode and controllers, the CNI config and plugins, iptables, the socket directory\n" +
			"and the root_dir filesystem, with the configuration the daemon would use. Each line is OK,\n" +
			"WARN (runs, a feature is missing) or FAIL (pods cannot run) with the fix.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(*configPath, cmd.Flags().Changed("config"))
			if err != nil {
				return err
			}
			rs := preflight.Run(preflight.Real(), preflightParams(cfg))
			fails := 0
			for _, r := range rs {
				fmt.Fprintln(cmd.OutOrStdout(), r)
				if r.Status == preflight.Fail {
					fails++
				}
			}
			if fails > 0 {
				return fmt.Errorf("%d of %d checks failed", fails, len(rs))
			}
			return nil
		},
	}
}

func preflightParams(cfg Config) preflight.Params {
	return preflight.Params{CNIConfDir: cfg.CNI.ConfDir, CNIBinDirs: cfg.CNI.BinDirs,
		CNIWriteDefault: cfg.CNI.WriteDefault, Socket: cfg.Socket, RootDir: cfg.RootDir}
}

// logPreflight logs the findings of `shim check` at daemon start: the daemon still starts,
// since most failures only break some pods, and the log then says why they broke.
func logPreflight(log *slog.Logger, rs []preflight.Result) {
	for _, r := range rs {
		attrs := []any{"check", r.Name, "detail", r.Detail}
		switch r.Status {
		case preflight.OK:
			log.Debug("preflight ok", attrs...)
		case preflight.Warn:
			log.Warn("preflight warning", append(attrs, "fix", r.Fix)...)
		default:
			log.Error("preflight failure", append(attrs, "fix", r.Fix)...)
		}
	}
}
