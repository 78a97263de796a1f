package runtime

import (
	"os"
	"testing"

	_ "github.com/opencontainers/cgroups/devices" // device cgroup rules for containers
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // setns before the Go runtime
)

// The test binary doubles as the daemon binary: libcontainer re-executes it as "init" and
// the Manager starts pod monitors as "<exe> monitor …".
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
	if len(os.Args) > 1 && os.Args[1] == MonitorSubcommand {
		os.Exit(MonitorMain(os.Args[2:]))
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templateDir != "" {
		_ = os.RemoveAll(templateDir)
	}
	os.Exit(code)
}
