package images

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestConfigTOML(t *testing.T) {
	const doc = `
max_concurrent_downloads = 3
stall_timeout = "2m"
[registries."registry.k8s.io"]
mirrors = ["http://127.0.0.1:5000", "https://mirror.example:8443", "plain.example"]
insecure_skip_verify = false
username = "u"
password = "p"
`
	cfg := DefaultConfig()
	if err := toml.NewDecoder(strings.NewReader(doc)).DisallowUnknownFields().Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.StallTimeout.D() != 2*time.Minute || len(cfg.Registries["registry.k8s.io"].Mirrors) != 3 {
		t.Fatalf("decoded %+v", cfg)
	}
	mi, _ := parseMirror("http://127.0.0.1:5000")
	if mi.host != "127.0.0.1:5000" || !mi.plainHTTP {
		t.Fatalf("mirror %+v", mi)
	}
	if mi, _ := parseMirror("plain.example"); mi.host != "plain.example" || mi.plainHTTP {
		t.Fatalf("bare mirror %+v", mi)
	}
}

func TestConfigInvalid(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"downloads":  func(c *Config) { c.MaxConcurrentDownloads = 0 },
		"stall":      func(c *Config) { c.StallTimeout = 0 },
		"ftp mirror": func(c *Config) { c.Registries["r"] = RegistryConfig{Mirrors: []string{"ftp://x"}} },
		"path":       func(c *Config) { c.Registries["r"] = RegistryConfig{Mirrors: []string{"http://x/v2/../prefix"}} },
		"pinned":     func(c *Config) { c.Pinned = []string{"UPPER/case"} },
		"creds over http": func(c *Config) {
			c.Registries["r"] = RegistryConfig{Mirrors: []string{"http://m:5000"}}
			c.Registries["m:5000"] = RegistryConfig{Username: "u", Password: "p"}
		},
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
