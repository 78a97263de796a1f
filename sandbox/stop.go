package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crishim/crishim/internal/errdefs"
)

// Stop stops every container of the pod, kills its infra process, detaches it from the
// network and unmounts its /dev/shm; the pod becomes NotReady. It is idempotent and returns
// nil for an unknown id. A failing network teardown is returned (the caller retries); the
// pod stays NotReady and consistent.
func (m *Manager) Stop(ctx context.Context, id string) error {
	return m.withLivePod(id, func(p *pod) error { return m.stopLocked(ctx, p) })
}

// withLivePod runs fn on the pod with its operation lock held. An unknown or already
// removed pod is not an error: Stop and Remove are idempotent.
func (m *Manager) withLivePod(id string, fn func(p *pod) error) error {
	p, err := m.lookup(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p.op.Lock()
	defer p.op.Unlock()
	if p.isRemoved() {
		return nil
	}
	return fn(p)
}

func (m *Manager) stopLocked(ctx context.Context, p *pod) error {
	m.mu.Lock()
	ctrs, id := m.ctrs, p.rec.ID
	m.mu.Unlock()
	if ctrs != nil {
		if err := ctrs.StopPodContainers(ctx, id); err != nil {
			return fmt.Errorf("pod %s: stop containers: %w", id, err)
		}
	}
	if err := m.update(p, func(r *record) { r.State = StateNotReady }); err != nil {
		return err
	}
	if err := m.killInfra(ctx, p); err != nil {
		return err
	}
	if err := m.teardownNetwork(ctx, p, false); err != nil {
		return err
	}
	if p.rec.ShmPath != "" {
		if err := unmountAll(p.rec.ShmPath); err != nil {
			return fmt.Errorf("pod %s: %w", id, err)
		}
	}
	return nil
}

func (m *Manager) killInfra(ctx context.Context, p *pod) error {
	m.mu.Lock()
	pid, start, exited := p.rec.InfraPID, p.rec.InfraStart, p.exited
	m.mu.Unlock()
	if pid <= 0 {
		return nil
	}
	if err := killProcess(ctx, pid, start, exited); err != nil {
		return fmt.Errorf("pod %s: %w", p.rec.ID, err)
	}
	return nil
}

// maxTeardownFailures is how many Stop/Remove calls in a row may fail on the network
// teardown of a pod before crishim gives up on it (each call already retries the DEL).
const maxTeardownFailures = 3

// teardownNetwork detaches the pod if it is attached. A failure is returned (the caller
// retries) while it may be temporary; the pod is never left unremovable by it: a cause no
// retry fixes (a plugin missing, bad input), the maxTeardownFailures-th failure in a row, or
// giveUp (a failed create, whose caller has no id to retry with) gives up on the network.
// The pod's own resources are then freed as usual (its netns goes, and the pod's end of
// the link with it); what the plugins keep (an IP lease) stays recorded by the network and
// is released by its garbage collection at the next start.
func (m *Manager) teardownNetwork(ctx context.Context, p *pod, giveUp bool) error {
	m.mu.Lock()
	net, attached, np := m.net, p.rec.NetworkAttached, networkPod(&p.rec)
	m.mu.Unlock()
	if !attached {
		return nil
	}
	if net == nil {
		m.log.Warn("pod attached to a network but none is configured; skipping teardown", "pod", np.ID)
	} else if err := net.Teardown(ctx, np); err != nil {
		m.mu.Lock()
		p.teardownFailures++
		failures := p.teardownFailures
		m.mu.Unlock()
		permanent := errors.Is(err, errdefs.ErrFailedPrecondition) || errors.Is(err, errdefs.ErrInvalidArgument) ||
			errors.Is(err, errdefs.ErrNotFound)
		if !giveUp && !permanent && failures < maxTeardownFailures {
			return fmt.Errorf("pod %s: network teardown (failure %d of %d before giving up on it): %w",
				np.ID, failures, maxTeardownFailures, err)
		}
		m.log.Error("network teardown failed; giving up on it so that the pod can be removed "+
			"(the network's garbage collection retries at the next start)", "pod", np.ID, "failures", failures, "err", err)
	}
	return m.update(p, func(r *record) { r.NetworkAttached, r.IPs = false, nil })
}

// Remove stops the pod if needed, removes its containers, namespace pins, mounts, cgroup,
// files and record. It is idempotent and returns nil for an unknown id.
func (m *Manager) Remove(ctx context.Context, id string) error {
	return m.withLivePod(id, func(p *pod) error {
		if err := m.stopLocked(ctx, p); err != nil {
			return err
		}
		m.mu.Lock()
		ctrs := m.ctrs
		m.mu.Unlock()
		if ctrs != nil {
			if err := ctrs.RemovePodContainers(ctx, p.rec.ID); err != nil {
				return fmt.Errorf("pod %s: remove containers: %w", p.rec.ID, err)
			}
		}
		return m.destroy(ctx, p, false)
	})
}

// releaseRuntime has the container runtime release what PreparePod prepared (RemovePod-
// Containers is idempotent: after RemovePodSandbox removed the containers it is a no-op).
func (m *Manager) releaseRuntime(ctx context.Context, p *pod) error {
	m.mu.Lock()
	prepared, ctrs := p.rec.RuntimePrepared, m.ctrs
	m.mu.Unlock()
	if !prepared || ctrs == nil {
		return nil
	}
	if err := ctrs.RemovePodContainers(ctx, p.rec.ID); err != nil {
		return fmt.Errorf("pod %s: release the container runtime: %w", p.rec.ID, err)
	}
	return nil
}

// destroy undoes everything the record says was (or may have been) done, then forgets the
// pod. Every step tolerates having been done already. giveUp: a failing network teardown
// does not stop it (see teardownNetwork).
func (m *Manager) destroy(ctx context.Context, p *pod, giveUp bool) error {
	if err := m.releaseRuntime(ctx, p); err != nil {
		return err
	}
	if err := m.teardownNetwork(ctx, p, giveUp); err != nil {
		return err
	}
	if err := m.killInfra(ctx, p); err != nil {
		return err
	}
	m.mu.Lock()
	rec := p.rec
	m.mu.Unlock()
	var errs []error
	for _, pin := range []string{rec.NetNSPath, rec.IPCNSPath, rec.UTSNSPath, rec.UserNSPath} {
		errs = append(errs, removePin(pin))
	}
	if rec.ShmPath != "" {
		errs = append(errs, unmountAll(rec.ShmPath))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pod %s: %w", rec.ID, err)
	}
	if rec.OwnsCgroup {
		if err := removeCgroup(ctx, rec.CgroupParent); err != nil {
			return fmt.Errorf("pod %s: %w", rec.ID, err)
		}
	}
	if err := os.RemoveAll(m.podState(rec.ID)); err != nil {
		return fmt.Errorf("pod %s: %w", rec.ID, err)
	}
	p.saveMu.Lock()
	p.removed = true
	err := os.RemoveAll(m.podRoot(rec.ID))
	if err != nil {
		p.removed = false
	}
	p.saveMu.Unlock()
	if err != nil {
		return fmt.Errorf("pod %s: %w", rec.ID, err)
	}
	m.mu.Lock()
	delete(m.pods, rec.ID)
	m.mu.Unlock()
	return nil
}

// recover finishes what a previous daemon left: pods half-created are cleaned up, pods whose
// infra process or namespace pins are gone (daemon restart, reboot) become NotReady, and state
// directories without a record are unmounted and removed.
func (m *Manager) recover() {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RunTimeout.D())
	defer cancel()
	for _, p := range m.pods {
		r := &p.rec
		if r.Phase == phaseCreating {
			if r.PIDMode == PIDModePod && r.InfraPID == 0 {
				r.InfraPID, r.InfraStart = findInfra(DefaultInfraSubcommand, r.ID)
			}
			if err := m.destroy(ctx, p, true); err != nil {
				m.log.Error("cleanup of interrupted pod creation; left NotReady", "pod", r.ID, "err", err)
				m.update(p, func(r *record) { r.Phase, r.State = phaseCreated, StateNotReady })
			} else {
				m.log.Info("cleaned up interrupted pod creation", "pod", r.ID)
			}
			continue
		}
		if r.State == StateReady && !m.intact(r) {
			m.log.Warn("pod lost its infra process or namespaces; NotReady", "pod", r.ID)
			m.update(p, func(r *record) { r.State = StateNotReady })
		}
	}
	entries, _ := os.ReadDir(filepath.Join(m.stateDir, "pods"))
	for _, e := range entries {
		if _, ok := m.pods[e.Name()]; ok {
			continue
		}
		dir := filepath.Join(m.stateDir, "pods", e.Name())
		for _, f := range []string{"ns/net", "ns/ipc", "ns/uts", "ns/user", "shm"} {
			unmountAll(filepath.Join(dir, f))
		}
		os.RemoveAll(dir)
	}
}

// intact reports whether a Ready pod still has its infra process and namespace pins.
func (m *Manager) intact(r *record) bool {
	if r.InfraPID > 0 && !alive(r.InfraPID, r.InfraStart) {
		return false
	}
	for _, pin := range []string{r.NetNSPath, r.IPCNSPath, r.UTSNSPath, r.UserNSPath} {
		if pin != "" && !isNsfs(pin) {
			return false
		}
	}
	return true
}
