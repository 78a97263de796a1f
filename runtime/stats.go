package runtime

import (
	"context"
	"errors"
	"path"
	"sync"
	"time"

	"github.com/crishim/crishim/internal/cgstats"
)

// RootfsUsage is implemented by a Rootfs that can measure a container's writable layer
// (bytes and inodes of its upper dir). Stats reports no writable layer when the Rootfs lacks it.
type RootfsUsage interface {
	RootfsUsage(key string) (bytes, inodes uint64, err error)
}

// observer holds what Stats and the exit hooks keep between calls. Its zero value is usable.
type observer struct {
	once   sync.Once
	reader cgstats.Reader
	rates  *cgstats.Rates
	usage  usageCache // writable layer usage per container

	ctx    context.Context // ends the exit watchers (Close)
	cancel context.CancelFunc

	hookMu   sync.Mutex
	hooks    []func(ExitEvent)
	notified map[string]*sync.Once
}

func (o *observer) init() {
	o.once.Do(func() {
		o.reader = cgstats.New().KeepOpen() // forgotten when the container exits or goes
		o.rates = cgstats.NewRates()
		o.ctx, o.cancel = context.WithCancel(context.Background())
	})
}

// close stops the exit watchers.
func (o *observer) close() {
	o.init()
	o.cancel()
}

// CgroupPath returns the cgroup (cgroupfs path) of container id.
func (m *Manager) CgroupPath(id string) (string, error) {
	c, err := m.get(id)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.cgroupPath(c), nil
}

// cgroupPath is CgroupPath for a container entry (caller holds c.mu).
func (m *Manager) cgroupPath(c *container) string {
	parent := c.rec.Spec.Pod.CgroupParent
	if parent == "" {
		parent = m.cfg.CgroupParent
	}
	return path.Join(parent, c.id)
}

// Stats returns the resource usage of a container, read from its cgroup: CPU (cumulative,
// and nano-cores since the previous Stats of the same container), memory as kubelet defines
// it, swap, pids and its writable layer. A container without a cgroup (not created yet, or
// exited) has zero usage; its writable layer is still measured.
func (m *Manager) Stats(ctx context.Context, id string) (Stats, error) {
	c, err := m.get(id)
	if err != nil {
		return Stats{}, err
	}
	m.obs.init()
	c.mu.Lock()
	cg, running := m.cgroupPath(c), c.rec.Exit == nil && c.rec.Phase == phaseCreated
	c.mu.Unlock()
	out := Stats{Timestamp: time.Now()}
	if !running {
		m.obs.reader.Forget(cg)
	}
	if running {
		s, err := m.obs.reader.Read(cg)
		switch {
		case errors.Is(err, cgstats.ErrNoCgroup):
		case err != nil:
			m.log.Debug("read container cgroup", "id", id, "err", err)
		default:
			out = statsFromSample(s)
			out.CPUNanoCores, out.CPUNanoCoresValid = m.obs.rates.NanoCores(id, s.Timestamp, s.CPUUsageNanos)
		}
	}
	if ru, ok := m.rootfs.(RootfsUsage); ok {
		b, n, err := m.obs.usage.get(id, m.cfg.WritableLayerUsageTTL.D(), func() (uint64, uint64, error) {
			return ru.RootfsUsage(id)
		})
		if err == nil {
			out.WritableLayerBytes, out.WritableLayerInodes, out.WritableLayerValid = b, n, true
		}
	}
	return out, nil
}

func statsFromSample(s cgstats.Sample) Stats {
	return Stats{
		Timestamp: s.Timestamp, CPUUsageNanos: s.CPUUsageNanos,
		MemoryWorkingSet: s.MemoryWorkingSet, MemoryUsage: s.MemoryUsage, MemoryRSS: s.MemoryRSS,
		MemoryPageFaults: s.PageFaults, MemoryMajorFaults: s.MajorPageFaults,
		MemorySwap: s.SwapUsage, MemoryLimit: s.MemoryLimit, OOMKills: s.OOMKills, Pids: s.Pids,
	}
}
