package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/crishim/crishim/internal/config"
)

// Config is the [sandbox] section of the daemon configuration.
type Config struct {
	// ShmSizeBytes is the size of each pod's /dev/shm tmpfs.
	ShmSizeBytes int64 `toml:"shm_size_bytes" comment:"Size of each pod's /dev/shm tmpfs (pods without host IPC)."`
	// RunTimeout bounds one RunPodSandbox's work; the work continues after the client gives
	// up so that a retry gets its result.
	RunTimeout config.Duration `toml:"run_timeout" comment:"Upper bound of one RunPodSandbox; the work goes on after a client timeout so a retry gets its result."`
	// RuntimeHandlers are the handlers a pod may name besides "" (the default one).
	RuntimeHandlers []HandlerConfig `toml:"runtime_handlers" comment:"Runtime handlers pods may name (the empty name is the first one)."`
}

// HandlerConfig describes one runtime handler and the features it advertises.
type HandlerConfig struct {
	Name                            string `toml:"name"`
	SupportsUserNamespaces          bool   `toml:"supports_user_namespaces"`
	SupportsRecursiveReadOnlyMounts bool   `toml:"supports_recursive_read_only_mounts"`
}

// Handler is a runtime handler as Status reports it.
type Handler struct {
	Name                            string
	SupportsUserNamespaces          bool
	SupportsRecursiveReadOnlyMounts bool
}

// Names of the hidden subcommands of the daemon binary that the sandbox package re-executes
// (/proc/self/exe <name> ...); the daemon routes them to HelperMain and InfraMain.
const (
	DefaultHelperSubcommand = "pod-ns"
	DefaultInfraSubcommand  = "pod-infra"
	// DefaultHandlerName is the name of the handler used when a pod names none.
	DefaultHandlerName = "runc"
)

// DefaultConfig returns the [sandbox] defaults.
func DefaultConfig() Config {
	return Config{
		ShmSizeBytes: 64 << 20,
		RunTimeout:   config.Duration(4 * time.Minute),
		RuntimeHandlers: []HandlerConfig{{
			Name: DefaultHandlerName, SupportsUserNamespaces: true,
			SupportsRecursiveReadOnlyMounts: true,
		}},
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	if c.ShmSizeBytes < 4096 {
		errs = append(errs, fmt.Errorf("sandbox.shm_size_bytes %d: must be at least 4096", c.ShmSizeBytes))
	}
	if c.RunTimeout.D() <= 0 {
		errs = append(errs, fmt.Errorf("sandbox.run_timeout %s: must be positive", c.RunTimeout.D()))
	}
	seen := map[string]bool{}
	for i, h := range c.RuntimeHandlers {
		if h.Name == "" || seen[h.Name] {
			errs = append(errs, fmt.Errorf("sandbox.runtime_handlers[%d]: name %q empty or duplicate", i, h.Name))
		}
		seen[h.Name] = true
	}
	return errors.Join(errs...)
}

// RuntimeHandlers lists the handlers Status advertises: the default one as "" first (the
// features of the first configured handler), then each configured handler.
func (m *Manager) RuntimeHandlers() []Handler {
	out := []Handler{{Name: ""}}
	for i, h := range m.cfg.RuntimeHandlers {
		hh := Handler{Name: h.Name, SupportsUserNamespaces: h.SupportsUserNamespaces,
			SupportsRecursiveReadOnlyMounts: h.SupportsRecursiveReadOnlyMounts}
		if i == 0 {
			out[0] = hh
			out[0].Name = ""
		}
		out = append(out, hh)
	}
	return out
}

func (m *Manager) knownHandler(name string) bool {
	if name == "" {
		return true
	}
	for _, h := range m.cfg.RuntimeHandlers {
		if h.Name == name {
			return true
		}
	}
	return false
}
