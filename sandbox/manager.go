// Package sandbox manages pod sandboxes: their namespaces (created by a short-lived helper
// process and pinned as bind mounts), the infra process of shared-PID pods, the pod cgroup,
// per-pod files (/etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm) and the network
// attachment. Every record is persisted before the side effect it describes.
package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

const (
	phaseCreating = "creating"
	phaseCreated  = "created"
)

// record is the persisted form of a pod.
type record struct {
	Sandbox
	Phase           string `json:"phase"`
	InfraStart      uint64 `json:"infra_start,omitempty"`
	OwnsCgroup      bool   `json:"owns_cgroup,omitempty"`
	NetworkAttached bool   `json:"network_attached,omitempty"`
	// RuntimePrepared says the container runtime may have been prepared for the pod
	// (PodPreparer), so cleanup must have it release what it prepared.
	RuntimePrepared bool `json:"runtime_prepared,omitempty"`
	// cgroupDone says the cgroup step ran (so cleanup knows whether OwnsCgroup is final).
	CgroupDone bool `json:"cgroup_done,omitempty"`
}

type pod struct {
	op     sync.Mutex    // serialises Stop and Remove of this pod
	rec    record        // guarded by Manager.mu
	exited chan struct{} // closed when an infra process started by this daemon exits
	// teardownFailures counts network teardowns of this pod that failed in a row (guarded by
	// Manager.mu); see teardownNetwork.
	teardownFailures int
	// saveMu orders record writes against removal: once removed, nothing writes the record
	// (which would recreate the pod's directory).
	saveMu  sync.Mutex
	removed bool // guarded by saveMu
}

func (p *pod) isRemoved() bool {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	return p.removed
}

// Manager owns every pod sandbox of the node.
type Manager struct {
	cfg                 Config
	rootDir, stateDir   string
	defaultCgroupParent string
	net                 Network
	ctrs                Containers
	log                 *slog.Logger

	// netMu is held for reading by each network setup and for writing by CollectNetworks.
	netMu sync.RWMutex

	mu        sync.Mutex
	pods      map[string]*pod
	flights   map[string]*flight // Run in progress, by pod name key
	unclaimed map[string]*flight // Run finished after its caller gave up
}

// New loads the pods recorded under rootDir (persistent: records and per-pod files) and
// stateDir (runtime: namespace pins, /dev/shm), cleans up pods whose creation was interrupted
// and marks pods whose infra process or namespaces are gone NotReady. defaultCgroupParent is
// the parent of pod cgroups for pods that name none. net may be nil (loopback only).
func New(cfg Config, rootDir, stateDir, defaultCgroupParent string, net Network, ctrs Containers, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if defaultCgroupParent == "" || !filepath.IsAbs(defaultCgroupParent) {
		return nil, fmt.Errorf("sandbox: default cgroup parent %q must be absolute: %w", defaultCgroupParent, errdefs.ErrInvalidArgument)
	}
	m := &Manager{cfg: cfg, rootDir: rootDir, stateDir: stateDir, defaultCgroupParent: defaultCgroupParent,
		net: net, ctrs: ctrs, log: log.With("component", "sandbox"),
		pods: map[string]*pod{}, flights: map[string]*flight{}, unclaimed: map[string]*flight{}}
	for _, d := range []string{filepath.Join(rootDir, "pods"), filepath.Join(stateDir, "pods")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	if err := m.reload(); err != nil {
		return nil, err
	}
	return m, nil
}

// SetNetwork replaces the pod network (nil = loopback only); used by wiring.
func (m *Manager) SetNetwork(n Network) { m.mu.Lock(); m.net = n; m.mu.Unlock() }

// SetContainers replaces the container runtime the manager stops and removes containers with.
func (m *Manager) SetContainers(c Containers) { m.mu.Lock(); m.ctrs = c; m.mu.Unlock() }

// Close releases the manager. Pods, their namespaces and infra processes keep running.
func (m *Manager) Close() error { return nil }

func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.rootDir, "pods", id, "sandbox.json")
}
func (m *Manager) podRoot(id string) string  { return filepath.Join(m.rootDir, "pods", id) }
func (m *Manager) podState(id string) string { return filepath.Join(m.stateDir, "pods", id) }

// save persists a pod's record; the caller holds no lock (records are per pod).
func (m *Manager) save(rec record) error {
	if err := store.WriteJSON(m.recordPath(rec.ID), rec); err != nil {
		return fmt.Errorf("pod %q: persist record: %w", rec.ID, err)
	}
	return nil
}

// update applies fn to the pod's record under the lock, then persists it.
func (m *Manager) update(p *pod, fn func(r *record)) error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if p.removed {
		return nil
	}
	m.mu.Lock()
	fn(&p.rec)
	rec := p.rec
	m.mu.Unlock()
	return m.save(rec)
}

// Get returns a copy of the pod (a unique id prefix is accepted).
func (m *Manager) Get(id string) (Sandbox, error) {
	p, err := m.lookup(id)
	if err != nil {
		return Sandbox{}, err
	}
	return m.snapshot(p), nil
}

// List returns a copy of every pod, oldest first. Pods still being created are left out.
func (m *Manager) List() []Sandbox {
	m.mu.Lock()
	ps := make([]*pod, 0, len(m.pods))
	for _, p := range m.pods {
		if p.rec.Phase == phaseCreated {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	out := make([]Sandbox, 0, len(ps))
	for _, p := range ps {
		out = append(out, m.snapshot(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// snapshot refreshes the pod's state (a dead infra makes it NotReady) and copies it.
func (m *Manager) snapshot(p *pod) Sandbox {
	m.mu.Lock()
	dead := p.rec.State == StateReady && p.rec.InfraPID > 0 && !alive(p.rec.InfraPID, p.rec.InfraStart)
	m.mu.Unlock()
	if dead {
		if err := m.update(p, func(r *record) { r.State = StateNotReady }); err != nil {
			m.log.Warn("persist NotReady", "pod", p.rec.ID, "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copySandbox(p.rec.Sandbox)
}

// lookup finds a created pod by id or unique id prefix.
func (m *Manager) lookup(id string) (*pod, error) {
	if id == "" {
		return nil, fmt.Errorf("pod sandbox id: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pods[id]; ok && p.rec.Phase == phaseCreated {
		return p, nil
	}
	var found *pod
	for pid, p := range m.pods {
		if strings.HasPrefix(pid, id) && p.rec.Phase == phaseCreated {
			if found != nil {
				return nil, fmt.Errorf("pod sandbox id prefix %q: ambiguous: %w", id, errdefs.ErrInvalidArgument)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return found, nil
}

func copySandbox(s Sandbox) Sandbox {
	c := s
	c.Labels = copyMap(s.Labels)
	c.Annotations = copyMap(s.Annotations)
	c.Sysctls = copyMap(s.Sysctls)
	c.IPs = append([]string(nil), s.IPs...)
	c.SupplementalGroups = append([]int64(nil), s.SupplementalGroups...)
	c.UIDMappings = append([]IDMapping(nil), s.UIDMappings...)
	c.GIDMappings = append([]IDMapping(nil), s.GIDMappings...)
	c.PortMappings = append([]PortMapping(nil), s.PortMappings...)
	return c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// reload reads every record at start.
func (m *Manager) reload() error {
	entries, err := os.ReadDir(filepath.Join(m.rootDir, "pods"))
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		store.CleanTemps(m.podRoot(e.Name()))
		var rec record
		if err := store.ReadJSON(m.recordPath(e.Name()), &rec); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				// Created the directory, died before the record: nothing else was done.
				os.RemoveAll(m.podRoot(e.Name()))
				continue
			}
			m.log.Error("skip unreadable pod record", "pod", e.Name(), "err", err)
			continue
		}
		m.pods[rec.ID] = &pod{rec: rec}
	}
	m.recover()
	return nil
}
