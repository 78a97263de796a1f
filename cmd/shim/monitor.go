package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/crishim/crishim/runtime"
)

// newMonitorCommand is the hidden per-pod monitor: the daemon re-executes its own binary as
// "shim monitor --socket … --root … --pod …". Flags are the runtime's, parsed by
// runtime.MonitorMain, so cobra leaves them alone (and the daemon's --config is not read).
func newMonitorCommand() *cobra.Command {
	return &cobra.Command{
		Use:                runtime.MonitorSubcommand,
		Short:              "Per-pod container monitor (started by the daemon)",
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			os.Exit(runtime.MonitorMain(args))
		},
	}
}
