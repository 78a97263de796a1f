package runtime

import (
	"sync"
	"time"
)

// ExitEvent tells that a container's init exited (on its own, stopped or killed). It is
// delivered once per container, after Status reports the exit.
type ExitEvent struct {
	ID, PodID  string
	ExitCode   int32
	Reason     string
	FinishedAt time.Time
}

// OnExit registers fn to be called once for every container exit, after the exit is
// recorded. Exits noticed by Stop (or by Remove of a running container) call fn before
// Stop returns; exits of containers that end on their own call it from a watcher goroutine.
// fn must not block for long and must not call Stop or Remove.
func (m *Manager) OnExit(fn func(ExitEvent)) {
	m.obs.hookMu.Lock()
	defer m.obs.hookMu.Unlock()
	m.obs.hooks = append(m.obs.hooks, fn)
}

// exitOnce returns the once that guards the exit notification of container id.
func (o *observer) exitOnce(id string) *sync.Once {
	o.hookMu.Lock()
	defer o.hookMu.Unlock()
	if o.notified == nil {
		o.notified = map[string]*sync.Once{}
	}
	once := o.notified[id]
	if once == nil {
		once = &sync.Once{}
		o.notified[id] = once
	}
	return once
}

// forget drops what the observer keeps about a removed container.
func (o *observer) forget(id string) {
	o.init()
	o.rates.Forget(id)
	o.hookMu.Lock()
	defer o.hookMu.Unlock()
	delete(o.notified, id)
}

// notifyExit runs the exit hooks for c once its exit is recorded. Concurrent callers for the
// same container return only after the hooks ran (sync.Once), so Stop never returns before
// its STOPPED notification was delivered.
func (m *Manager) notifyExit(c *container) {
	c.mu.Lock()
	ex, pod := c.rec.Exit, c.rec.Spec.PodID
	c.mu.Unlock()
	if ex == nil {
		return
	}
	ev := ExitEvent{ID: c.id, PodID: pod, ExitCode: ex.Code, Reason: ex.Reason, FinishedAt: ex.FinishedAt}
	m.obs.exitOnce(c.id).Do(func() {
		m.obs.hookMu.Lock()
		hooks := append([]func(ExitEvent){}, m.obs.hooks...)
		m.obs.hookMu.Unlock()
		for _, h := range hooks {
			h(ev)
		}
	})
}

// watchExit waits (in the background) for a started container's exit through its pod
// monitor, records it and notifies the hooks. It ends with the exit, the container's removal
// or Close.
func (m *Manager) watchExit(c *container) {
	m.obs.init()
	ctx := m.obs.ctx
	go func() {
		delay := 100 * time.Millisecond
		for ctx.Err() == nil {
			c.mu.Lock()
			done, live, pod := c.rec.Exit != nil, c.rec.Phase == phaseCreated, c.rec.Spec.PodID
			c.mu.Unlock()
			if done {
				m.notifyExit(c)
				return
			}
			if !live {
				return
			}
			resp, err := m.call(ctx, pod, monRequest{Op: opWait, ID: c.id})
			switch {
			case err == nil && resp.Exit != nil:
				m.recordExit(c, resp.Exit)
			case err == nil:
			case isNotFound(err):
				return // deleted through Remove, which records what it needs
			case isUnavailable(err):
				if orphanRunning(m.lcRoot, c.id) {
					return // stays RUNNING; Stop/Remove kill it directly
				}
				_ = m.monitorLost(c)
			default:
				select {
				case <-ctx.Done():
				case <-time.After(delay):
				}
				delay = min(2*delay, 5*time.Second)
			}
		}
	}()
}

// recordExit stores an exit reported by the monitor unless the container is being removed.
func (m *Manager) recordExit(c *container, ex *exitRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.Exit != nil || c.rec.Phase != phaseCreated {
		return
	}
	c.setExit(ex)
	if err := c.save(); err != nil {
		m.log.Warn("record container exit", "id", c.id, "err", err)
	}
}
