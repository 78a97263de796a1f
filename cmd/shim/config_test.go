package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigDefaultsWithoutFile(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(t.TempDir(), "absent.toml"), false)
	if err != nil {
		t.Fatalf("missing default file must not be an error: %v", err)
	}
	if cfg.Socket != "/run/crishim/crishim.sock" || cfg.RootDir != "/var/lib/crishim" {
		t.Errorf("defaults = %+v", cfg)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "absent.toml"), true); err == nil {
		t.Error("an explicit --config that does not exist must be an error")
	}
}

func TestLoadConfigErrorsNameFileKeyReason(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown key", "root_dir = '/x'\nbogus_key = 1\n", `line 2: unknown key "bogus_key"`},
		{"unknown nested key", "[streaming]\nadress = 'x'\n", `"streaming.adress"`},
		{"wrong type", "log_level = 3\n", "log_level"},
		{"invalid value", "log_level = 'loud'\n", `log_level: unknown level "loud"`},
		{"relative path", "root_dir = 'var/lib'\n", "root_dir: must be an absolute path"},
		{"tls half set", "[streaming]\ntls_cert_file = '/c.pem'\n", "tls_cert_file and tls_key_file"},
		{"syntax", "root_dir = \n", "line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, c.body)
			_, err := LoadConfig(p, true)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestDefaultConfigRoundTrips(t *testing.T) {
	b, err := MarshalDefault()
	if err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, string(b))
	cfg, err := LoadConfig(p, true)
	if err != nil {
		t.Fatalf("the printed default config does not load: %v\n%s", err, b)
	}
	want, _ := toml.Marshal(DefaultConfig())
	got, _ := toml.Marshal(cfg)
	if string(want) != string(got) {
		t.Errorf("round trip changed the config:\n%s\nvs\n%s", got, want)
	}
}

func TestConfigAsMapUsesTOMLNames(t *testing.T) {
	m, err := DefaultConfig().asMap()
	if err != nil {
		t.Fatal(err)
	}
	if m["root_dir"] != "/var/lib/crishim" {
		t.Errorf("root_dir = %v", m["root_dir"])
	}
	cni, ok := m["cni"].(map[string]any)
	if !ok || cni["conf_dir"] != "/etc/cni/net.d" {
		t.Errorf("cni section = %v", m["cni"])
	}
	if _, ok := m["RootDir"]; ok {
		t.Error("Go field names leaked into the map")
	}
}

func TestConfigGet(t *testing.T) {
	c := DefaultConfig()
	c.RootDir = "/srv/crishim"
	c.CNI.BinDirs = []string{"/a", "/b"}
	for key, want := range map[string]string{"root_dir": "/srv/crishim", "cni.conf_dir": "/etc/cni/net.d",
		"cni.bin_dirs": "/a\n/b", "cni.write_default": "true", "sandbox.shm_size_bytes": "67108864"} {
		if got, err := c.get(key); err != nil || got != want {
			t.Errorf("get(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"nope", "cni.nope", "root_dir.x", "cni", ""} {
		if got, err := c.get(key); err == nil {
			t.Errorf("get(%q) = %q, want an error", key, got)
		}
	}
}
