// Command shim is the crishim daemon: a Kubernetes CRI v1 runtime serving RuntimeService and
// ImageService on a unix socket. The same binary also serves as libcontainer's init (argv[1]
// "init", reserved) and as crishim's helper processes.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/runtime"
)

func main() {
	runtime.MaybeContainerInit()
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shim:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "shim",
		Short:         "crishim: a Kubernetes CRI runtime on libcontainer",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), configPath, cmd.Flags().Changed("config"))
		},
	}
	root.PersistentFlags().StringVar(&configPath, "config", defaultConfigPath, "path of the TOML configuration file")
	root.AddCommand(newDaemonCommand(&configPath), newConfigCommand(&configPath), newVersionCommand(), newMonitorCommand(),
		newImagesCommand(&configPath), newCheckCommand(&configPath))
	root.AddCommand(newPodHelperCommands()...)
	return root
}

func newDaemonCommand(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Serve the CRI on the configured unix socket (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), *configPath, cmd.Flags().Changed("config"))
		},
	}
}

func newConfigCommand(configPath *string) *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Configuration helpers"}
	cfg.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the complete default configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := MarshalDefault()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}, &cobra.Command{
		Use:   "get KEY",
		Short: "Print one value of the effective configuration (e.g. root_dir, cni.conf_dir)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := LoadConfig(*configPath, cmd.Flags().Changed("config"))
			if err != nil {
				return err
			}
			v, err := c.get(args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		},
	})
	return cfg
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "crishim", buildVersion())
		},
	}
}
