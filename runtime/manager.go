package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/crishim/crishim/internal/errdefs"
)

// Manager creates and runs containers. All methods are safe for concurrent use.
type Manager struct {
	cfg      Config
	rootDir  string // persistent: <rootDir>/containers/<id>/{record,config,exit}.json + rootfs/
	stateDir string // runtime: libcontainer root, monitor sockets and logs
	lcRoot   string
	exe      string
	rootfs   Rootfs
	log      *slog.Logger
	host     hostInfo

	mu       sync.Mutex
	ctrs     map[string]*container
	names    map[string]string // nameKey → id
	monitors map[string]*podMonitor

	obs observer // stats samples and exit hooks
}

// New returns a Manager keeping records under rootDir and runtime state under stateDir. It
// reloads existing records, reconnects to running pod monitors and finishes or cleans up
// operations interrupted by a crash. Pod monitors are started as
// "/proc/self/exe monitor …" (see MonitorSubcommand).
func New(cfg Config, rootDir, stateDir string, rootfs Rootfs, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("runtime config: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, err := readHostInfo(cfg.RestrictOOMScoreAdj)
	if err != nil {
		return nil, fmt.Errorf("read daemon capabilities: %w", err)
	}
	exe, err := monitorExecutable(cfg.MonitorPath)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, rootDir: rootDir, stateDir: stateDir, rootfs: rootfs, log: log, host: host,
		lcRoot: filepath.Join(stateDir, "lc"), exe: exe,
		ctrs: map[string]*container{}, names: map[string]string{}, monitors: map[string]*podMonitor{},
	}
	if len(filepath.Join(stateDir, "s", "01234567890123456789")) > 100 {
		return nil, fmt.Errorf("runtime state dir %q: too long for unix sockets: %w", stateDir, errdefs.ErrInvalidArgument)
	}
	for _, d := range []string{m.ctrsDir(), m.lcRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// The root of a user-namespaced container (an unprivileged host uid) must be able to
	// reach its rootfs: the directories above it are searchable (not readable) by all. Each
	// container's own dir is the barrier for other users (fsutil.PrivateDir at Create).
	for _, d := range []string{rootDir, m.ctrsDir()} {
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, err
		}
	}
	if d := unsearchableParent(rootDir); d != "" {
		log.Warn("user-namespaced containers cannot reach their rootfs: a parent of the runtime root dir is not searchable by others (chmod o+x)", "dir", d)
	}
	if err := m.reload(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) ctrsDir() string { return filepath.Join(m.rootDir, "containers") }

func nameKey(podID, name string, attempt uint32) string {
	return podID + "/" + name + "/" + strconv.FormatUint(uint64(attempt), 10)
}

// get returns the container entry or ErrNotFound.
func (m *Manager) get(id string) (*container, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[id]
	if c == nil {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// forget drops a removed container from the maps.
func (m *Manager) forget(c *container) {
	m.obs.usage.drop(c.id)
	m.obs.init()
	m.obs.reader.Forget(m.cgroupPath(c))
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ctrs, c.id)
	k := nameKey(c.rec.Spec.PodID, c.rec.Spec.Name, c.rec.Spec.Attempt)
	if m.names[k] == c.id {
		delete(m.names, k)
	}
}

// Status returns the container's status, or errdefs.ErrNotFound.
func (m *Manager) Status(id string) (Status, error) {
	c, err := m.get(id)
	if err != nil {
		return Status{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.Phase == phaseRemoving {
		return Status{}, fmt.Errorf("container %q: being removed: %w", id, errdefs.ErrNotFound)
	}
	c.refreshExit()
	return c.status(), nil
}

// List returns the status of every container, in no particular order. Containers being
// created or removed are left out.
func (m *Manager) List() []Status {
	m.mu.Lock()
	all := make([]*container, 0, len(m.ctrs))
	for _, c := range m.ctrs {
		all = append(all, c)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(all))
	for _, c := range all {
		c.mu.Lock()
		if c.rec.Phase == phaseCreated {
			c.refreshExit()
			out = append(out, c.status())
		}
		c.mu.Unlock()
	}
	return out
}

// Close releases the Manager's resources. Monitors and containers keep running.
func (m *Manager) Close() error {
	m.obs.close()
	return nil
}

func isUnavailable(err error) bool { return errors.Is(err, errdefs.ErrUnavailable) }

func isNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }

// MonitorBinary is the name of the dedicated monitor binary looked for next to the daemon.
const MonitorBinary = "crishim-monitor"

// monitorExecutable picks the monitor binary: the configured one, else crishim-monitor next
// to the daemon's executable when it is there (smaller per pod), else the daemon itself.
func monitorExecutable(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	side := filepath.Join(filepath.Dir(self), MonitorBinary)
	if st, err := os.Stat(side); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return side, nil
	}
	return self, nil
}

// unsearchableParent returns the first ancestor of dir that others cannot traverse ("" if
// none): the root of a user-namespaced container is an unprivileged host uid.
func unsearchableParent(dir string) string {
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			return d
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}
