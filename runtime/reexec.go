package runtime

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // cgo constructor: joins namespaces before the Go runtime starts in libcontainer's init

	_ "github.com/opencontainers/cgroups/devices" // registers the cgroup device-rules manager
)

// ContainerInitArg is argv[1] with which libcontainer re-executes the current binary inside a
// new container. It is reserved: no crishim subcommand may use it.
const ContainerInitArg = "init"

// MaybeContainerInit must be the first call of main (and of TestMain in test binaries that
// start containers): when the process is libcontainer's re-executed init it takes over and
// never returns.
func MaybeContainerInit() {
	if len(os.Args) > 1 && os.Args[1] == ContainerInitArg {
		libcontainer.Init()
		os.Exit(1) // Init only returns on failure, after reporting it to the parent.
	}
}
