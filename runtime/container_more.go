package runtime

import (
	"context"
	"fmt"

	"github.com/crishim/crishim/internal/errdefs"
)

// Exec runs an interactive process in a running container and returns its exit code.
func (m *Manager) Exec(ctx context.Context, id string, opts ExecOptions) (int32, error) {
	return 0, fmt.Errorf("exec in container %q: %w", id, errdefs.ErrNotImplemented)
}

// Attach connects to the stdio of a running container until ctx ends or the container exits.
func (m *Manager) Attach(ctx context.Context, id string, opts AttachOptions) error {
	return fmt.Errorf("attach to container %q: %w", id, errdefs.ErrNotImplemented)
}

// ReopenLog makes the monitor reopen the container's log file (after rotation). It fails
// with errdefs.ErrFailedPrecondition when the container is not running.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	if _, err := m.runningTarget(id); err != nil {
		return err
	}
	c, err := m.get(id)
	if err != nil {
		return err
	}
	if _, err := m.call(ctx, c.rec.Spec.PodID, monRequest{Op: opReopen, ID: id}); err != nil {
		return fmt.Errorf("reopen log of container %q: %w", id, err)
	}
	return nil
}
