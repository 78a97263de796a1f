package runtime

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/crishim/crishim/internal/config"
)

// Config is the [runtime] section of the daemon configuration.
type Config struct {
	// CgroupParent is the cgroup (cgroupfs path) used for pods that do not name one; the lead
	// passes the same value to sandbox. Containers always go below their pod's cgroup.
	CgroupParent string `toml:"cgroup_parent"`
	// RestrictOOMScoreAdj clamps a requested oom_score_adj to the daemon's own value when it
	// is lower (root without CAP_SYS_RESOURCE cannot lower it), like containerd's option.
	RestrictOOMScoreAdj bool `toml:"restrict_oom_score_adj"`
	// DefaultRuntimeHandler is the handler name reported for containers of pods that ask
	// for none.
	DefaultRuntimeHandler string `toml:"default_runtime_handler"`
	// LogLineMaxBytes is the longest CRI log line payload; longer lines are split into
	// partial (P) lines of this size.
	LogLineMaxBytes int `toml:"log_line_max_bytes"`
	// ExecOutputLimit caps the stdout and stderr kept by ExecSync (each), like kubelet's 16 MiB.
	ExecOutputLimit int `toml:"exec_output_limit"`
	// MonitorPath is the binary started as the per-pod monitor ("<path> monitor …"); "" =
	// crishim-monitor next to the daemon's executable if present, else the daemon itself. The
	// small dedicated binary (cmd/crishim-monitor) uses much less memory per pod.
	MonitorPath string `toml:"monitor_path"`
	// MonitorGOGC is the GOGC value of the per-pod monitor (lower = smaller RSS, more GC).
	MonitorGOGC int `toml:"monitor_gogc"`
	// MonitorMemoryLimit is the soft memory limit (GOMEMLIMIT syntax, e.g. "8MiB") of the
	// per-pod monitor; "" leaves it unset.
	MonitorMemoryLimit string `toml:"monitor_memory_limit"`
	// WritableLayerUsageTTL is how long a container's measured writable layer usage is
	// reported before it is measured again (in the background; containerd refreshes it every
	// 10s too); 0 measures it on every stats request.
	WritableLayerUsageTTL config.Duration `toml:"writable_layer_usage_ttl"`
}

// DefaultConfig returns the defaults used when the configuration file says nothing.
func DefaultConfig() Config {
	return Config{
		CgroupParent:          "/crishim",
		RestrictOOMScoreAdj:   true,
		DefaultRuntimeHandler: "runc",
		LogLineMaxBytes:       16 * 1024,
		ExecOutputLimit:       16 * 1024 * 1024,
		MonitorGOGC:           50,
		MonitorMemoryLimit:    "",
		WritableLayerUsageTTL: config.Duration(10 * time.Second),
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.CgroupParent == "" || !path.IsAbs(c.CgroupParent) || path.Clean(c.CgroupParent) != c.CgroupParent {
		return fmt.Errorf("runtime.cgroup_parent %q: must be a clean absolute cgroup path", c.CgroupParent)
	}
	if c.DefaultRuntimeHandler == "" {
		return fmt.Errorf("runtime.default_runtime_handler: must not be empty")
	}
	if c.LogLineMaxBytes < 256 || c.LogLineMaxBytes > 1<<20 {
		return fmt.Errorf("runtime.log_line_max_bytes %d: must be between 256 and 1048576", c.LogLineMaxBytes)
	}
	if c.ExecOutputLimit < 1024 {
		return fmt.Errorf("runtime.exec_output_limit %d: must be at least 1024", c.ExecOutputLimit)
	}
	if c.MonitorGOGC < -1 || c.MonitorGOGC == 0 {
		return fmt.Errorf("runtime.monitor_gogc %d: must be positive or -1 (off)", c.MonitorGOGC)
	}
	if c.MonitorPath != "" && !path.IsAbs(c.MonitorPath) {
		return fmt.Errorf("runtime.monitor_path %q: must be absolute", c.MonitorPath)
	}
	if m := c.MonitorMemoryLimit; m != "" && strings.ContainsAny(m, " \t") {
		return fmt.Errorf("runtime.monitor_memory_limit %q: must be a GOMEMLIMIT value like 8MiB", m)
	}
	if c.WritableLayerUsageTTL < 0 {
		return fmt.Errorf("runtime.writable_layer_usage_ttl %s: must not be negative", c.WritableLayerUsageTTL.D())
	}
	return nil
}
