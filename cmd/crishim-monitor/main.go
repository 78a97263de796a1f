// Command crishim-monitor is the per-pod container monitor as a small binary of its own:
// it links only the runtime package, so it starts faster and uses less memory than
// re-executing the full daemon (which links gRPC, protobuf and the CRI types). The daemon
// uses it when runtime.Config.MonitorPath names it.
package main

import (
	"os"

	_ "github.com/opencontainers/cgroups/devices" // device cgroup rules for containers
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // setns before the Go runtime starts

	"github.com/crishim/crishim/runtime"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // never returns
	}
	if len(os.Args) < 2 || os.Args[1] != runtime.MonitorSubcommand {
		os.Stderr.WriteString("usage: crishim-monitor monitor --socket PATH --root DIR [--pod ID] [--ready-fd N]\n")
		os.Exit(2)
	}
	os.Exit(runtime.MonitorMain(os.Args[2:]))
}
