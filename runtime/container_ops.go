package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// Start starts a created container.
func (m *Manager) Start(ctx context.Context, id string) error {
	c, err := m.get(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	st := c.currentState()
	if st != StateCreated {
		return fmt.Errorf("container %q is %s, not CREATED: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), monitorOpTimeout)
	defer cancel()
	resp, err := m.call(sctx, c.rec.Spec.PodID, monRequest{Op: opStart, ID: id})
	if err != nil {
		return fmt.Errorf("start container %q: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.StartedAt = resp.StartedAt
	if err := c.save(); err != nil {
		return fmt.Errorf("record start of container %q: %w", id, err)
	}
	m.watchExit(c)
	return nil
}

// Stop sends the stop signal, then SIGKILL after timeout (0 = SIGKILL at once), and waits
// for the exit. Stopping a container that is not running, or an unknown one, succeeds (CRI
// wants StopContainer idempotent).
func (m *Manager) Stop(ctx context.Context, id string, timeout time.Duration) error {
	c, err := m.get(id)
	if err != nil {
		return nil
	}
	c.op.Lock()
	defer c.op.Unlock()
	return m.stop(ctx, c, timeout)
}

// stop is Stop with c.op held.
func (m *Manager) stop(ctx context.Context, c *container, timeout time.Duration) error {
	defer m.notifyExit(c)
	c.mu.Lock()
	c.refreshExit()
	st, pod := c.state(), c.rec.Spec.PodID
	c.mu.Unlock()
	if st != StateRunning && st != StateCreated {
		return nil
	}
	sig, _ := stopSignal(c.rec.Spec)
	if st == StateCreated || timeout <= 0 {
		sig = syscall.SIGKILL
	}
	if err := m.signalWait(ctx, c, pod, sig, timeout); err != nil || sig == syscall.SIGKILL {
		return err
	}
	c.mu.Lock()
	done := c.rec.Exit != nil
	c.mu.Unlock()
	if done {
		return nil
	}
	return m.signalWait(ctx, c, pod, syscall.SIGKILL, 0)
}

// signalWait signals the container and waits for its exit (timeout 0 = until it exits or
// ctx ends); the exit is stored in the record.
func (m *Manager) signalWait(ctx context.Context, c *container, pod string, sig syscall.Signal, timeout time.Duration) error {
	resp, err := m.call(ctx, pod, monRequest{Op: opKill, ID: c.id, Signal: int(sig)})
	if err != nil {
		if isNotFound(err) || isUnavailable(err) {
			// The monitor died (or was replaced): kill the orphan directly.
			destroyOrphan(m.lcRoot, c.id)
			return m.monitorLost(c)
		}
		return fmt.Errorf("signal container %q: %w", c.id, err)
	}
	if resp.Exit == nil {
		resp, err = m.call(ctx, pod, monRequest{Op: opWait, ID: c.id, Timeout: timeout})
		if err != nil {
			return fmt.Errorf("wait for container %q: %w", c.id, err)
		}
	}
	if resp.Exit != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.setExit(resp.Exit)
		return c.save()
	}
	return nil
}

// monitorLost records an unknown exit for a container whose monitor no longer knows it (the
// monitor was killed, or the host rebooted), unless the monitor recorded the exit.
func (m *Manager) monitorLost(c *container) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshExit()
	if c.rec.Exit == nil {
		c.rec.Exit = &exitRecord{Code: 255, FinishedAt: time.Now(), Reason: ReasonError,
			Message: "the container's monitor is gone; its exit status is unknown"}
		return c.save()
	}
	return nil
}

// Remove removes a container (killing it first if it runs), its rootfs, cgroup, state and
// record. Removing an unknown container succeeds.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, err := m.get(id)
	if err != nil {
		return nil
	}
	c.op.Lock()
	defer c.op.Unlock()
	return m.remove(ctx, c)
}

// remove is Remove with c.op held; it is also used to clean up half-created containers.
func (m *Manager) remove(ctx context.Context, c *container) error {
	c.mu.Lock()
	if _, ok := m.lookup(c.id); !ok {
		c.mu.Unlock()
		return nil // removed while we waited for c.op
	}
	pod := c.rec.Spec.PodID
	if c.state() == StateRunning {
		// Stop first, so the exit is recorded and notified before the removal.
		c.mu.Unlock()
		if err := m.stop(ctx, c, 0); err != nil {
			return fmt.Errorf("stop container %q before removal: %w", c.id, err)
		}
		c.mu.Lock()
	}
	if c.rec.Phase != phaseRemoving && pod != "" {
		c.rec.Phase = phaseRemoving
		if err := c.save(); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("record removal of container %q: %w", c.id, err)
		}
	}
	c.mu.Unlock()
	if pod != "" {
		_, err := m.call(ctx, pod, monRequest{Op: opDelete, ID: c.id})
		if err != nil && !isNotFound(err) && !isUnavailable(err) {
			return fmt.Errorf("delete container %q: %w", c.id, err)
		}
		if isUnavailable(err) {
			destroyOrphan(m.lcRoot, c.id)
		}
	}
	if err := unmountAll(c.dir); err != nil {
		return fmt.Errorf("container %q: %w", c.id, err)
	}
	if pod != "" {
		keys := []string{c.id}
		for i, mt := range c.rec.Spec.Mounts {
			if mt.ImageID != "" {
				keys = append(keys, volumeKey(c.id, i))
			}
		}
		for _, k := range keys {
			if err := m.rootfs.RemoveRootfs(ctx, k); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("remove rootfs %q of container %q: %w", k, c.id, err)
			}
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove container %q: %w", c.id, err)
	}
	m.forget(c)
	m.obs.forget(c.id)
	return nil
}

func (m *Manager) lookup(id string) (*container, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.ctrs[id]
	return c, ok
}

// podContainers returns the containers of a pod.
func (m *Manager) podContainers(podID string) []*container {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*container
	for _, c := range m.ctrs {
		if c.rec.Spec.PodID == podID {
			out = append(out, c)
		}
	}
	return out
}

// StopPodContainers kills every container of the pod; idempotent.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	var errs []error
	for _, c := range m.podContainers(podID) {
		c.op.Lock()
		errs = append(errs, m.stop(ctx, c, 0))
		c.op.Unlock()
	}
	return errors.Join(errs...)
}

// PreparePod starts the pod's monitor ahead of its first container (RunPodSandbox does it
// concurrently with the pod's network setup); RemovePodContainers stops it.
func (m *Manager) PreparePod(ctx context.Context, podID string) error {
	pm := m.podMonitor(podID)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return m.ensureMonitor(ctx, pm)
}

// RemovePodContainers removes every container of the pod and stops the pod's monitor;
// idempotent.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	var errs []error
	for _, c := range m.podContainers(podID) {
		c.op.Lock()
		errs = append(errs, m.remove(ctx, c))
		c.op.Unlock()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	pm := m.podMonitor(podID)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return m.shutdownMonitor(ctx, pm)
}
