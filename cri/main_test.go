package cri

import (
	"os"
	"testing"

	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// TestMain lets this test binary serve as the daemon binary's re-executed helpers: libcontainer
// init and the pod namespace helper and infra process.
func TestMain(m *testing.M) {
	runtime.MaybeContainerInit()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case runtime.MonitorSubcommand:
			os.Exit(runtime.MonitorMain(os.Args[2:]))
		case sandbox.DefaultHelperSubcommand:
			os.Exit(sandbox.HelperMain(os.Args[2:]))
		case sandbox.DefaultInfraSubcommand:
			os.Exit(sandbox.InfraMain(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}
