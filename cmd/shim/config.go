package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/crishim/crishim/cni"
	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// defaultConfigPath is where the daemon looks for its configuration when --config is not given.
const defaultConfigPath = "/etc/crishim/config.toml"

// Config is the whole daemon configuration: one TOML file, every field defaulted, each
// section owned by the package that uses it.
type Config struct {
	// RootDir holds persistent state: images, container records, logs of the daemon.
	RootDir string `toml:"root_dir" comment:"Persistent state: images, snapshots, container and pod records."`
	// StateDir holds runtime state that does not survive a reboot: sockets, pinned namespaces.
	StateDir string `toml:"state_dir" comment:"Runtime state (tmpfs): sockets, pinned namespaces, monitors."`
	// Socket is the path of the CRI gRPC unix socket.
	Socket string `toml:"socket" comment:"CRI gRPC unix socket (kubelet --container-runtime-endpoint=unix://<socket>)."`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `toml:"log_level" comment:"debug, info, warn or error. debug logs every request with its latency."`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format" comment:"text or json."`

	// Runtime configures the container runtime (libcontainer, monitors, logs).
	Runtime runtime.Config `toml:"runtime"`
	// Images configures registries, mirrors and pulls.
	Images images.Config `toml:"images"`
	// CNI configures the pod network.
	CNI cni.Config `toml:"cni"`
	// Streaming configures the exec/attach/port-forward HTTP server.
	Streaming StreamingConfig `toml:"streaming"`
	// Metrics configures the Prometheus endpoint.
	Metrics MetricsConfig `toml:"metrics"`
	// Sandbox configures pod sandboxes.
	Sandbox sandbox.Config `toml:"sandbox"`
}

// StreamingConfig configures the streaming server used by Exec, Attach and PortForward.
type StreamingConfig struct {
	// Address is host:port; port 0 picks a free port.
	Address string `toml:"address" comment:"host:port of the exec/attach/port-forward server; port 0 = random."`
	// TLSCertFile and TLSKeyFile enable TLS when both are set.
	TLSCertFile string `toml:"tls_cert_file" comment:"PEM certificate; TLS is on when both cert and key are set."`
	// TLSKeyFile is the PEM key that goes with TLSCertFile.
	TLSKeyFile string `toml:"tls_key_file" comment:"PEM private key."`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Address is host:port of the /metrics endpoint; empty disables it.
	Address string `toml:"address" comment:"host:port serving /metrics (Prometheus text); empty = off."`
}

// DefaultConfig returns the configuration used when no file exists.
func DefaultConfig() Config {
	return Config{
		RootDir:   "/var/lib/crishim",
		StateDir:  "/run/crishim",
		Socket:    "/run/crishim/crishim.sock",
		LogLevel:  "info",
		LogFormat: "text",
		Runtime:   runtime.DefaultConfig(),
		Images:    images.DefaultConfig(),
		CNI:       cni.DefaultConfig(),
		Streaming: StreamingConfig{Address: "127.0.0.1:0"},
		Sandbox:   sandbox.DefaultConfig(),
	}
}

// Validate checks every field and names the first invalid key.
func (c Config) Validate() error {
	for key, p := range map[string]string{"root_dir": c.RootDir, "state_dir": c.StateDir, "socket": c.Socket} {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%s: must be an absolute path, got %q", key, p)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format: must be text or json, got %q", c.LogFormat)
	}
	if err := c.Runtime.Validate(); err != nil {
		return err
	}
	if err := c.Images.Validate(); err != nil {
		return err
	}
	if err := c.CNI.Validate(); err != nil {
		return err
	}
	if (c.Streaming.TLSCertFile == "") != (c.Streaming.TLSKeyFile == "") {
		return errors.New("streaming: tls_cert_file and tls_key_file must be set together")
	}
	if err := c.Sandbox.Validate(); err != nil {
		return err
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// LoadConfig reads path over the defaults. A missing file is fine only when the path is the
// default one (no file needed to start); unknown keys and invalid values are errors naming
// the file, the key and the reason.
func LoadConfig(path string, explicit bool) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return cfg, cfg.Validate()
	case err != nil:
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %s", path, describeTOMLError(err))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func describeTOMLError(err error) string {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var keys []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			keys = append(keys, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(e.Key(), ".")))
		}
		return strings.Join(keys, "; ")
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Sprintf("line %d column %d: key %q: %s", row, col, strings.Join(de.Key(), "."), de.Error())
	}
	return err.Error()
}

// asMap renders the configuration with its TOML key names (root_dir, cni.conf_dir, …), which
// is how a verbose Status shows it: the names users write, not Go field names.
func (c Config) asMap() (map[string]any, error) {
	b, err := toml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// MarshalDefault renders the complete default configuration as TOML.
func MarshalDefault() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# crishim configuration: " + defaultConfigPath + "\n# Every key is optional; these are the defaults.\n\n")
	enc := toml.NewEncoder(&buf).SetIndentTables(false)
	if err := enc.Encode(DefaultConfig()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// get returns the value of a dotted key (root_dir, cni.conf_dir) as text; lists print one
// item per line. Scripts (hack/install.sh) read the effective paths through it.
func (c Config) get(key string) (string, error) {
	m, err := c.asMap()
	if err != nil {
		return "", err
	}
	var v any = m
	for _, part := range strings.Split(key, ".") {
		table, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("unknown key %q", key)
		}
		if v, ok = table[part]; !ok {
			return "", fmt.Errorf("unknown key %q", key)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		return "", fmt.Errorf("%q is a table, not a value", key)
	case []any:
		items := make([]string, len(v))
		for i, x := range v {
			items[i] = fmt.Sprint(x)
		}
		return strings.Join(items, "\n"), nil
	default:
		return fmt.Sprint(v), nil
	}
}
