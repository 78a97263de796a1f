package runtime

import (
	"context"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/fsutil"
)

// reload reads the records left by a previous daemon: half-created and half-removed
// containers are removed; the others get the state their monitor reports (exits that
// happened while the daemon was down come from exit.json).
func (m *Manager) reload(ctx context.Context) error {
	recs, bad, err := loadRecords(m.ctrsDir())
	if err != nil {
		return err
	}
	for id, err := range bad {
		m.log.Error("unreadable container record left in place", "id", id, "err", err)
	}
	for id, c := range recs {
		m.ctrs[id] = c
		if c.rec.Phase == phaseCreated {
			m.names[nameKey(c.rec.Spec.PodID, c.rec.Spec.Name, c.rec.Spec.Attempt)] = id
		}
	}
	for _, c := range recs {
		c.op.Lock()
		switch c.rec.Phase {
		case phaseCreated:
			// Containers made by an older daemon had a dir searchable by all: close it.
			if err := fsutil.PrivateDir(c.dir, rootHostID(c.rec.Spec.Pod.GIDMappings)); err != nil {
				m.log.Warn("restrict container dir", "id", c.id, "err", err)
			}
			m.reconnect(ctx, c)
		default:
			m.log.Info("cleaning up interrupted container operation", "id", c.id, "phase", c.rec.Phase)
			if err := m.remove(ctx, c); err != nil {
				m.log.Warn("clean up container", "id", c.id, "err", err)
			}
		}
		c.op.Unlock()
	}
	return nil
}

// reconnect refreshes a created container's state from its monitor.
func (m *Manager) reconnect(ctx context.Context, c *container) {
	c.mu.Lock()
	c.refreshExit()
	done := c.rec.Exit != nil
	c.mu.Unlock()
	if done {
		return
	}
	defer func() {
		c.mu.Lock()
		running := c.state() == StateRunning
		c.mu.Unlock()
		if running {
			m.watchExit(c) // notices exits from now on
		}
	}()
	resp, err := m.call(ctx, c.rec.Spec.PodID, monRequest{Op: opState, ID: c.id})
	if err != nil {
		if isUnavailable(err) || isNotFound(err) {
			if !orphanRunning(m.lcRoot, c.id) {
				_ = m.monitorLost(c)
			}
			// A running orphan stays RUNNING; Stop/Remove kill it directly.
			return
		}
		m.log.Warn("query container state", "id", c.id, "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	if resp.Exit != nil {
		c.setExit(resp.Exit)
		changed = true
	}
	if c.rec.StartedAt.IsZero() && !resp.StartedAt.IsZero() {
		// Started just before the previous daemon died, before it recorded the start.
		c.rec.StartedAt, changed = resp.StartedAt, true
	}
	if changed {
		_ = c.save()
	}
}

// destroyOrphan kills and removes a container whose monitor is gone.
func destroyOrphan(root, id string) {
	lc, err := libcontainer.Load(root, id)
	if err != nil {
		return
	}
	_ = lc.Signal(unix.SIGKILL)
	for i := 0; i < 100; i++ {
		if st, err := lc.Status(); err != nil || st == libcontainer.Stopped {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = lc.Destroy()
}

// orphanRunning reports whether libcontainer still sees the container's init running.
func orphanRunning(root, id string) bool {
	lc, err := libcontainer.Load(root, id)
	if err != nil {
		return false
	}
	st, err := lc.Status()
	return err == nil && (st == libcontainer.Running || st == libcontainer.Created)
}
