package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// Manager creates and runs containers. All methods are safe for concurrent use.
type Manager struct {
	cfg      Config
	rootDir  string // persistent records: <rootDir>/containers/<id>/
	stateDir string // runtime state: libcontainer root, monitor sockets
	rootfs   Rootfs
	log      *slog.Logger
}

// New returns a Manager keeping records under rootDir and runtime state under stateDir. It
// reloads existing records, reconnects to running pod monitors and finishes or cleans up
// operations interrupted by a crash.
func New(cfg Config, rootDir, stateDir string, rootfs Rootfs, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("runtime config: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	return &Manager{cfg: cfg, rootDir: rootDir, stateDir: stateDir, rootfs: rootfs, log: log}, nil
}

// Create creates a container (rootfs, spec, cgroup, init process waiting to be started) and
// returns its status (StateCreated). A name already used by another container of the pod
// (same Name and Attempt) fails with errdefs.ErrAlreadyExists naming the holder.
func (m *Manager) Create(ctx context.Context, spec ContainerSpec) (Status, error) {
	return Status{}, errdefs.ErrNotImplemented
}

// Start starts a created container.
func (m *Manager) Start(ctx context.Context, id string) error {
	return errdefs.ErrNotImplemented
}

// Stop sends the stop signal, then SIGKILL after timeout (0 = SIGKILL at once), and waits
// for the exit. Stopping a container that is not running is a no-op.
func (m *Manager) Stop(ctx context.Context, id string, timeout time.Duration) error {
	return errdefs.ErrNotImplemented
}

// Remove removes a container (killing it first if it runs), its rootfs, cgroup, state and
// record. Removing an unknown container succeeds.
func (m *Manager) Remove(ctx context.Context, id string) error {
	return errdefs.ErrNotImplemented
}

// Status returns the container's status, or errdefs.ErrNotFound.
func (m *Manager) Status(id string) (Status, error) {
	return Status{}, errdefs.ErrNotImplemented
}

// List returns the status of every container, in no particular order.
func (m *Manager) List() []Status {
	return nil
}

// ExecSync runs cmd in a running container and returns its output (each stream capped at
// Config.ExecOutputLimit) and exit code. timeout 0 = no timeout (only ctx). On timeout the
// process and its descendants are killed and the error wraps errdefs.ErrDeadlineExceeded.
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error) {
	return nil, nil, 0, errdefs.ErrNotImplemented
}

// StopPodContainers stops (kills) every container of the pod; idempotent.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	return errdefs.ErrNotImplemented
}

// RemovePodContainers removes every container of the pod and stops the pod's monitor;
// idempotent.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	return errdefs.ErrNotImplemented
}

// Close releases the Manager's resources. Monitors and containers keep running.
func (m *Manager) Close() error {
	return nil
}

// Exec runs an interactive process in a running container and returns its exit code.
func (m *Manager) Exec(ctx context.Context, id string, opts ExecOptions) (int32, error) {
	return 0, fmt.Errorf("exec in container %q: %w", id, errdefs.ErrNotImplemented)
}

// Attach connects to the stdio of a running container until ctx ends or the container exits.
func (m *Manager) Attach(ctx context.Context, id string, opts AttachOptions) error {
	return fmt.Errorf("attach to container %q: %w", id, errdefs.ErrNotImplemented)
}

// ReopenLog makes the monitor reopen the container's log file (after rotation).
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	return fmt.Errorf("reopen log of container %q: %w", id, errdefs.ErrNotImplemented)
}

// UpdateResources changes the cgroup limits of a container.
func (m *Manager) UpdateResources(ctx context.Context, id string, r Resources) error {
	return fmt.Errorf("update resources of container %q: %w", id, errdefs.ErrNotImplemented)
}

// Stats returns the resource usage of a container.
func (m *Manager) Stats(ctx context.Context, id string) (Stats, error) {
	return Stats{}, fmt.Errorf("stats of container %q: %w", id, errdefs.ErrNotImplemented)
}
