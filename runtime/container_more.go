package runtime

import (
	"context"
	"fmt"
)

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
