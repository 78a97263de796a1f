// Command crishim-monitor is the per-pod container monitor as a small binary of its own:
// it links only the runtime package, so it starts faster and uses less memory than
// re-executing the full daemon (which links gRPC, protobuf and the CRI types). The daemon
// uses it when runtime.Config.MonitorPath names it.
package main

import (
	"os"

	"github.com/crishim/crishim/runtime"
)

func main() {
	runtime.MaybeContainerInit() // libcontainer's re-executed init; never returns
	if len(os.Args) < 2 || os.Args[1] != runtime.MonitorSubcommand {
		os.Stderr.WriteString("usage: crishim-monitor monitor --socket PATH --root DIR [--pod ID] [--ready-fd N]\n")
		os.Exit(2)
	}
	os.Exit(runtime.MonitorMain(os.Args[2:]))
}
