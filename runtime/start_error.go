package runtime

import (
	"fmt"
	"strings"

	"github.com/crishim/crishim/internal/errdefs"
)

// initExecMarker starts the message libcontainer's init returns when the process's executable
// cannot be found or run (exec.LookPath's error, passed back from the child as text, so it
// cannot be matched with errors.Is): e.g. `error during container init: exec: "/x": stat /x:
// no such file or directory` or `exec: "x": executable file not found in $PATH`.
const initExecMarker = "error during container init: exec: "

// classifyStartErr gives a kind to the start errors that come from the container's
// configuration rather than from the runtime: a command missing from the image, or not
// executable, is an invalid argument (the gRPC answer says so instead of Internal).
func classifyStartErr(err error) error {
	if err != nil && strings.Contains(err.Error(), initExecMarker) {
		return fmt.Errorf("config.command: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return err
}
