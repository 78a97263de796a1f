package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/fsutil"
)

// flight is a Run in progress; retries of the same pod name wait on it and get its result.
type flight struct {
	done    chan struct{}
	sb      Sandbox
	err     error
	waiters int
}

// nameKey is the slot a pod name holds. Its parts are joined with '/', which validName keeps
// out of them, so two different pods never share a key ("a_b"+"c" against "a"+"b_c").
func nameKey(name, namespace, uid string, attempt uint32) string {
	return fmt.Sprintf("%s/%s/%s/%d", name, namespace, uid, attempt)
}

// Run creates a pod sandbox and returns it Ready. A second Run with the same metadata (name,
// namespace, uid, attempt) while the pod exists fails with errdefs.ErrAlreadyExists naming the
// holder; a retry while the first Run is still working waits for it and gets its result, and
// so does the first retry after a Run that finished when its caller had already given up.
func (m *Manager) Run(ctx context.Context, c PodConfig) (Sandbox, error) {
	if err := m.validate(&c); err != nil {
		return Sandbox{}, err
	}
	key := nameKey(c.Name, c.Namespace, c.UID, c.Attempt)
	m.mu.Lock()
	if f, ok := m.unclaimed[key]; ok {
		delete(m.unclaimed, key)
		if _, ok := m.pods[f.sb.ID]; ok {
			m.mu.Unlock()
			return copySandbox(f.sb), nil
		}
	}
	f, ok := m.flights[key]
	if !ok {
		if holder := m.holderLocked(key); holder != "" {
			h := copySandbox(m.pods[holder].rec.Sandbox)
			m.mu.Unlock()
			if c.RequestHash != "" && h.RequestHash == c.RequestHash && h.State == StateReady {
				return h, nil // a retry (maybe after a restart) of the request that made it
			}
			return Sandbox{}, fmt.Errorf("pod sandbox name %q: reserved by pod %s: %w", key, holder, errdefs.ErrAlreadyExists)
		}
		f = &flight{done: make(chan struct{})}
		m.flights[key] = f
		p := &pod{rec: m.newRecord(&c)}
		m.pods[p.rec.ID] = p
		work, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RunTimeout.D())
		go func() {
			defer cancel()
			sb, err := m.create(work, p)
			m.mu.Lock()
			f.sb, f.err = sb, err
			delete(m.flights, key)
			if f.waiters == 0 && err == nil {
				m.unclaimed[key] = f
			}
			close(f.done)
			m.mu.Unlock()
		}()
	}
	f.waiters++
	m.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	m.mu.Lock()
	f.waiters--
	m.mu.Unlock()
	select {
	case <-f.done:
		return copySandbox(f.sb), f.err
	default:
		return Sandbox{}, fmt.Errorf("run pod sandbox %q (still in progress, retry for its result): %w: %w",
			key, errdefs.ErrDeadlineExceeded, ctx.Err())
	}
}

// holderLocked returns the id of the pod holding the name key, or "".
func (m *Manager) holderLocked(key string) string {
	for id, p := range m.pods {
		r := &p.rec
		if nameKey(r.Name, r.Namespace, r.UID, r.Attempt) == key {
			return id
		}
	}
	return ""
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newRecord decides everything about a pod before anything is created.
func (m *Manager) newRecord(c *PodConfig) record {
	id := newID()
	root, state := m.podRoot(id), m.podState(id)
	sb := Sandbox{
		ID: id, Name: c.Name, Namespace: c.Namespace, UID: c.UID, Attempt: c.Attempt,
		RequestHash: c.RequestHash, State: StateNotReady, CreatedAt: time.Now(),
		Labels: copyMap(c.Labels), Annotations: copyMap(c.Annotations),
		RuntimeHandler: c.RuntimeHandler, Hostname: c.Hostname, LogDirectory: c.LogDirectory,
		HostNetwork:  c.Namespaces.Network == NamespaceModeNode,
		HostIPC:      c.Namespaces.IPC == NamespaceModeNode,
		HostPID:      c.Namespaces.PID == NamespaceModeNode,
		PIDMode:      c.Namespaces.PID,
		CgroupParent: c.CgroupParent,
		HostsPath:    filepath.Join(root, "hosts"), ResolvPath: filepath.Join(root, "resolv.conf"),
		HostnamePath: filepath.Join(root, "hostname"),
		Sysctls:      copyMap(c.Sysctls),
		Privileged:   c.Security.Privileged, RunAsUser: c.Security.RunAsUser,
		RunAsGroup: c.Security.RunAsGroup, SupplementalGroups: c.Security.SupplementalGroups,
		ReadOnlyRootfs: c.Security.ReadOnlyRootfs,
		PortMappings:   c.PortMappings, DNS: c.DNS, Overhead: c.Overhead, Resources: c.Resources,
	}
	if sb.PIDMode == PIDModeTarget {
		sb.PIDTarget = c.Namespaces.TargetID
	}
	if u := c.Namespaces.UserNS; u != nil && u.Mode == NamespaceModePod {
		sb.UIDMappings, sb.GIDMappings = u.UIDs, u.GIDs
	}
	if sb.CgroupParent == "" {
		sb.CgroupParent = path.Join(m.defaultCgroupParent, "pod-"+id)
	}
	if sb.Hostname == "" || sb.HostNetwork {
		sb.Hostname, _ = os.Hostname()
	}
	if !sb.HostNetwork {
		sb.NetNSPath = filepath.Join(state, "ns", "net")
		sb.UTSNSPath = filepath.Join(state, "ns", "uts")
	}
	if !sb.HostIPC {
		sb.IPCNSPath = filepath.Join(state, "ns", "ipc")
		sb.ShmPath = filepath.Join(state, "shm")
	}
	if len(sb.UIDMappings) > 0 {
		sb.UserNSPath = filepath.Join(state, "ns", "user")
	}
	return record{Sandbox: sb, Phase: phaseCreating}
}

// create performs a pod's side effects in order, each recorded first; on failure it undoes
// them in reverse (destroy works from the record, so it also serves crash recovery).
func (m *Manager) create(ctx context.Context, p *pod) (Sandbox, error) {
	rec := p.rec // only this goroutine writes the record while it is "creating"
	log := m.log.With("pod", rec.ID, "name", rec.Name, "namespace", rec.Namespace)
	err := m.createSteps(ctx, p)
	if err == nil {
		err = m.update(p, func(r *record) { r.Phase, r.State, r.CreatedAt = phaseCreated, StateReady, time.Now() })
	}
	if err == nil {
		log.Info("pod sandbox ready", "netns", rec.NetNSPath, "cgroup", rec.CgroupParent)
		return m.snapshot(p), nil
	}
	log.Warn("pod sandbox creation failed, cleaning up", "err", err)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := m.destroy(cctx, p, true); cerr != nil {
		log.Error("cleanup of failed pod left it NotReady", "err", cerr)
		m.update(p, func(r *record) { r.Phase, r.State = phaseCreated, StateNotReady })
	}
	return Sandbox{}, fmt.Errorf("run pod sandbox %s_%s: %w", rec.Name, rec.Namespace, err)
}

func (m *Manager) createSteps(ctx context.Context, p *pod) error {
	rec := p.rec
	if err := os.MkdirAll(m.podRoot(rec.ID), 0o711); err != nil {
		return err
	}
	pp := m.podPreparer()
	owns := !cgroupExists(rec.CgroupParent)
	if err := m.update(p, func(r *record) {
		r.OwnsCgroup, r.RuntimePrepared = owns, pp != nil
	}); err != nil {
		return err
	}
	if pp != nil { // overlapped with the steps below; done before the pod is ready or destroyed
		done := make(chan struct{})
		go func() { m.preparePod(ctx, pp, rec.ID); close(done) }()
		defer func() { <-done }()
	}
	// A pod cgroup that existed already is the kubelet's, sized by it (containers plus
	// overhead): only size ours.
	var limits *Resources
	if owns {
		limits = podLimits(rec.Overhead, rec.Resources)
	}
	if err := createCgroup(rec.CgroupParent, limits); err != nil {
		return err
	}
	if err := m.update(p, func(r *record) { r.CgroupDone = true }); err != nil {
		return err
	}
	if err := writePodFiles(&rec.Sandbox); err != nil {
		return err
	}
	// The pod state dir holds the shm tmpfs (1777 inside) and the namespace pins: no other
	// host user may reach them; a user-namespaced pod's root passes through.
	if err := fsutil.PrivateDir(m.podState(rec.ID), rootHostID(rec.GIDMappings)); err != nil {
		return err
	}
	if rec.ShmPath != "" {
		if err := mountShm(rec.ShmPath, m.cfg.ShmSizeBytes); err != nil {
			return err
		}
	}
	if err := m.startNamespaces(ctx, p); err != nil {
		return err
	}
	return m.setupNetwork(ctx, p)
}

// podPreparer returns the container runtime as a PodPreparer, or nil.
func (m *Manager) podPreparer() PodPreparer {
	m.mu.Lock()
	defer m.mu.Unlock()
	pp, _ := m.ctrs.(PodPreparer)
	return pp
}

// preparePod has the runtime get ready for the pod's containers while the pod is set up.
// A failure only costs the time saved: the first CreateContainer tries again.
func (m *Manager) preparePod(ctx context.Context, pp PodPreparer, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RunTimeout.D())
	defer cancel()
	if err := pp.PreparePod(ctx, id); err != nil {
		m.log.Warn("prepare the container runtime for the pod", "pod", id, "err", err)
	}
}

// startNamespaces creates and pins the pod's namespaces: through the infra process when the
// pod shares a PID namespace, else through the short-lived helper (when there is anything
// to create).
func (m *Manager) startNamespaces(ctx context.Context, p *pod) error {
	rec := p.rec
	req := nsRequest{PodID: rec.ID, NetPin: rec.NetNSPath, IPCPin: rec.IPCNSPath, UTSPin: rec.UTSNSPath,
		UserPin: rec.UserNSPath, UIDs: rec.UIDMappings, GIDs: rec.GIDMappings,
		Hostname: rec.Hostname, NewPID: rec.PIDMode == PIDModePod}
	if req.NetPin == "" && req.IPCPin == "" && req.UserPin == "" && !req.NewPID {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(m.podState(rec.ID), "ns"), 0o711); err != nil {
		return err
	}
	for _, p := range req.pins() {
		if err := createPin(p[1]); err != nil {
			return err
		}
	}
	if !req.NewPID {
		_, err := startNS(ctx, DefaultHelperSubcommand, req, false)
		return err
	}
	cmd, err := startNS(ctx, DefaultInfraSubcommand, req, true)
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	pid := cmd.Process.Pid
	_, start, err := procStat(pid)
	if err != nil {
		return fmt.Errorf("infra pid %d: %w", pid, err)
	}
	m.mu.Lock()
	p.exited = exited
	m.mu.Unlock()
	if err := m.update(p, func(r *record) {
		r.InfraPID, r.InfraStart = pid, start
		r.PIDNSPath = fmt.Sprintf("/proc/%d/ns/pid", pid)
	}); err != nil {
		return err
	}
	if err := addToCgroup(rec.CgroupParent, pid); err != nil {
		m.log.Warn("move infra process into pod cgroup", "pod", rec.ID, "err", err)
	}
	return nil
}

// setupNetwork attaches the pod to the network (none for host network or without a Network).
func (m *Manager) setupNetwork(ctx context.Context, p *pod) error {
	m.mu.Lock()
	net := m.net
	m.mu.Unlock()
	if net == nil || p.rec.HostNetwork {
		return nil
	}
	m.netMu.RLock() // never while CollectNetworks runs (see there)
	defer m.netMu.RUnlock()
	if err := m.update(p, func(r *record) { r.NetworkAttached = true }); err != nil {
		return err
	}
	ips, err := net.Setup(ctx, networkPod(&p.rec))
	if err != nil {
		return fmt.Errorf("network setup: %w", err)
	}
	return m.update(p, func(r *record) { r.IPs = ips })
}

func networkPod(r *record) NetworkPod {
	return NetworkPod{ID: r.ID, Name: r.Name, Namespace: r.Namespace, UID: r.UID, NetNSPath: r.NetNSPath,
		CgroupParent: r.CgroupParent, PortMappings: r.PortMappings, DNS: r.DNS}
}
