package cni

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/pelletier/go-toml/v2"

	"github.com/crishim/crishim/internal/errdefs"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig points every dir at a temp dir; the bin dir is empty (no plugins). The bridge
// name is one no host has: a pod CIDR update touches an existing bridge of that name.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BridgeName = "cniu" + randHex(4)
	cfg.ConfDir = filepath.Join(t.TempDir(), "net.d")
	cfg.BinDirs = []string{t.TempDir()}
	return cfg
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]func(*Config){
		"relative conf_dir":  func(c *Config) { c.ConfDir = "net.d" },
		"no bin_dirs":        func(c *Config) { c.BinDirs = nil },
		"relative bin dir":   func(c *Config) { c.BinDirs = []string{"bin"} },
		"relative cache":     func(c *Config) { c.CacheDir = "cache" },
		"bad network name":   func(c *Config) { c.NetworkName = "-x/y" },
		"long bridge name":   func(c *Config) { c.BridgeName = "abcdefghijklmnop" },
		"bad subnet":         func(c *Config) { c.DefaultSubnet = "10.0.0.0" },
		"v6 as v4 subnet":    func(c *Config) { c.DefaultSubnet = "fd00::/64" },
		"v4 as v6 subnet":    func(c *Config) { c.DefaultSubnetV6 = "10.0.0.0/16" },
		"too small subnet":   func(c *Config) { c.DefaultSubnet = "10.0.0.0/31" },
		"slash in bridge":    func(c *Config) { c.BridgeName = "a/b" },
		"empty network name": func(c *Config) { c.NetworkName = "" },
	}
	for name, mutate := range cases {
		cfg := DefaultConfig()
		mutate(&cfg)
		if err := cfg.Validate(); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: Validate() = %v, want invalid argument", name, err)
		}
	}
}

func TestNewWritesDefaultIntoEmptyDir(t *testing.T) {
	cfg := testConfig(t)
	cfg.DefaultSubnetV6 = "fd42::/64"
	state := t.TempDir()
	m, err := New(cfg, state, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(n.file) != DefaultConfFile || n.list.Name != "crishim" {
		t.Fatalf("loaded %s network %q, want the default", n.file, n.list.Name)
	}
	if n.list.CNIVersion != fallbackCNIVersion {
		t.Errorf("cniVersion %q without plugins, want %q", n.list.CNIVersion, fallbackCNIVersion)
	}
	if got := strings.Join(pluginTypes(n.list), ","); got != "bridge,portmap" {
		t.Errorf("plugins %s", got)
	}
	s := string(n.list.Bytes)
	for _, want := range []string{`"10.88.0.0/16"`, `"fd42::/64"`, `"` + cfg.BridgeName + `"`, `"portMappings": true`,
		filepath.Join(state, "cni", "networks")} {
		if !strings.Contains(s, want) {
			t.Errorf("default config lacks %s:\n%s", want, s)
		}
	}
}

func TestNoDefaultWhenDisabled(t *testing.T) {
	cfg := testConfig(t)
	cfg.WriteDefault = false
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	err = m.Status(context.Background())
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), cfg.ConfDir) {
		t.Fatalf("Status() = %v, want failed precondition naming %s", err, cfg.ConfDir)
	}
	if _, err := os.Stat(filepath.Join(cfg.ConfDir, DefaultConfFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default written although disabled: %v", err)
	}
}

const listA = `{"cniVersion":"1.0.0","name":"net-a","plugins":[{"type":"bridge"}]}`
const confB = `{"cniVersion":"1.0.0","name":"net-b","type":"ptp"}`

func TestFirstValidInLexicalOrder(t *testing.T) {
	cfg := testConfig(t)
	writeFile(t, filepath.Join(cfg.ConfDir, "05-broken.conflist"), `{"name":`)
	writeFile(t, filepath.Join(cfg.ConfDir, "07-noplugins.conflist"), `{"cniVersion":"1.0.0","name":"x","plugins":[]}`)
	writeFile(t, filepath.Join(cfg.ConfDir, "20-b.conf"), confB)
	writeFile(t, filepath.Join(cfg.ConfDir, "10-a.conflist"), listA)
	writeFile(t, filepath.Join(cfg.ConfDir, "00-ignored.txt"), confB)
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.current(context.Background())
	if err != nil || n.list.Name != "net-a" {
		t.Fatalf("current() = %v, %v; want net-a", n, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.ConfDir, DefaultConfFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default written into a dir that has configs")
	}
	// A config change is picked up without a restart: remove a, the single .conf b is used.
	os.Remove(filepath.Join(cfg.ConfDir, "10-a.conflist"))
	n, err = m.current(context.Background())
	if err != nil || n.list.Name != "net-b" || n.list.Plugins[0].Network.Type != "ptp" {
		t.Fatalf("after removing a: %v, %v; want net-b", n, err)
	}
	// Only broken files left: the error names them.
	os.Remove(filepath.Join(cfg.ConfDir, "20-b.conf"))
	_, err = m.current(context.Background())
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "05-broken.conflist") ||
		!strings.Contains(err.Error(), "07-noplugins.conflist") {
		t.Fatalf("broken configs only: %v", err)
	}
	// Removing every config brings the default back.
	os.Remove(filepath.Join(cfg.ConfDir, "05-broken.conflist"))
	os.Remove(filepath.Join(cfg.ConfDir, "07-noplugins.conflist"))
	n, err = m.current(context.Background())
	if err != nil || n.list.Name != cfg.NetworkName {
		t.Fatalf("empty dir again: %v, %v; want the default", n, err)
	}
}

func TestStatusNamesMissingPlugin(t *testing.T) {
	cfg := testConfig(t)
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	err = m.Status(context.Background())
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), `plugin "bridge" not found`) {
		t.Fatalf("Status() = %v, want bridge not found", err)
	}
}

// fakePlugin writes a shell plugin answering VERSION with the given versions.
func fakePlugin(t *testing.T, dir, name, versions string) {
	t.Helper()
	script := "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[" + versions + "]}'\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestStatusChecksVersions(t *testing.T) {
	cfg := testConfig(t)
	bin := cfg.BinDirs[0]
	for _, p := range []string{"bridge", "host-local"} {
		fakePlugin(t, bin, p, `"0.4.0","1.0.0"`)
	}
	fakePlugin(t, bin, "portmap", `"0.4.0"`)
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	// portmap lacks 1.0.0, so the default picked 0.4.0 which all support.
	if err := m.Status(context.Background()); err != nil {
		t.Fatalf("Status() = %v", err)
	}
	if n, _ := m.current(context.Background()); n.list.CNIVersion != "0.4.0" {
		t.Fatalf("default cniVersion %q, want 0.4.0", n.list.CNIVersion)
	}
	writeFile(t, filepath.Join(cfg.ConfDir, "00-new.conflist"),
		`{"cniVersion":"1.0.0","name":"new","plugins":[{"type":"bridge"},{"type":"portmap"}]}`)
	err = m.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), `plugin "portmap" supports CNI versions`) {
		t.Fatalf("Status() = %v, want portmap version error", err)
	}
}

func TestUpdatePodCIDR(t *testing.T) {
	cfg := testConfig(t)
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePodCIDR(context.Background(), "not-a-cidr"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad cidr: %v", err)
	}
	if err := m.UpdatePodCIDR(context.Background(), "10.99.0.0/24, fd99::/64"); err != nil {
		t.Fatal(err)
	}
	n, err := m.current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := string(n.list.Bytes)
	if !strings.Contains(s, `"10.99.0.0/24"`) || !strings.Contains(s, `"fd99::/64"`) || strings.Contains(s, "10.88.") {
		t.Fatalf("default not rewritten with the pod CIDR:\n%s", s)
	}
	rt := m.runtimeConf(PodNetwork{ID: "x"})
	if _, ok := rt.CapabilityArgs["ipRanges"]; !ok {
		t.Errorf("ipRanges capability missing after UpdatePodCIDR")
	}
	// A user's config is never rewritten.
	writeFile(t, filepath.Join(cfg.ConfDir, "00-user.conflist"), listA)
	if _, err := m.current(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePodCIDR(context.Background(), "10.98.0.0/24"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(cfg.ConfDir, "00-user.conflist"))
	d, _ := os.ReadFile(filepath.Join(cfg.ConfDir, DefaultConfFile))
	if string(b) != listA || strings.Contains(string(d), "10.98.") {
		t.Fatalf("a config in use by the user was touched")
	}
}

func TestRuntimeConfArgs(t *testing.T) {
	m := &Manager{}
	rt := m.runtimeConf(PodNetwork{ID: "abc", Name: "p", Namespace: "ns", UID: "u1", NetNS: "/x",
		PortMappings: []PortMapping{{Protocol: "UDP", ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1"},
			{ContainerPort: 80}},
		DNS:       &DNS{Servers: []string{"1.1.1.1"}},
		Bandwidth: &Bandwidth{IngressRate: 1000}, CgroupParent: "/kubepods/p"})
	args := map[string]string{}
	for _, a := range rt.Args {
		args[a[0]] = a[1]
	}
	if rt.Args[0][0] != "IgnoreUnknown" || args["K8S_POD_NAMESPACE"] != "ns" || args["K8S_POD_NAME"] != "p" ||
		args["K8S_POD_INFRA_CONTAINER_ID"] != "abc" || args["K8S_POD_UID"] != "u1" {
		t.Errorf("args %v", rt.Args)
	}
	pms := rt.CapabilityArgs["portMappings"].([]map[string]any)
	if len(pms) != 1 || pms[0]["protocol"] != "udp" || pms[0]["hostPort"] != int32(5353) {
		t.Errorf("portMappings %v", pms)
	}
	for _, k := range []string{"dns", "bandwidth", "cgroupPath"} {
		if rt.CapabilityArgs[k] == nil {
			t.Errorf("capability %s missing", k)
		}
	}
	if _, ok := rt.CapabilityArgs["ipRanges"]; ok {
		t.Errorf("ipRanges without a pod CIDR")
	}
}

func TestConvertResultOrder(t *testing.T) {
	zero, one := 0, 1
	mk := func(s string, idx *int) *types100.IPConfig {
		ip, n, _ := net.ParseCIDR(s)
		n.IP = ip
		return &types100.IPConfig{Address: *n, Interface: idx}
	}
	res := &types100.Result{CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{{Name: "br0"}, {Name: "eth0", Sandbox: "/ns"}},
		IPs:        []*types100.IPConfig{mk("fd00::5/64", &one), mk("10.1.0.1/24", &zero), mk("10.1.0.5/24", &one)},
	}
	out, err := convertResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.IPs) != 2 || out.IPs[0].String() != "10.1.0.5" || out.IPs[1].String() != "fd00::5" {
		t.Fatalf("IPs %v, want [10.1.0.5 fd00::5]", out.IPs)
	}
	if _, err := convertResult(&types100.Result{CNIVersion: "1.0.0"}); err == nil {
		t.Fatalf("a result without IPs was accepted")
	}
}

func TestTeardownUnknownPodIsNoop(t *testing.T) {
	m, err := New(testConfig(t), t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(context.Background(), PodNetwork{ID: "nothing-here"}); err != nil {
		t.Fatalf("Teardown of an unknown pod: %v", err)
	}
	if err := m.Teardown(context.Background(), PodNetwork{ID: "../x"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("Teardown with a path id: %v", err)
	}
	if err := m.GC(context.Background(), nil); err != nil {
		t.Fatalf("GC on empty state: %v", err)
	}
}

func TestConfigTOMLRoundTrip(t *testing.T) {
	b, err := toml.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	dec := toml.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, DefaultConfig()) {
		t.Fatalf("round trip: %+v, want %+v", got, DefaultConfig())
	}
}

func TestIptablesRaceDetection(t *testing.T) {
	seen := errors.New(`plugin type="portmap" failed (add): failed to create top-level DNAT chain: running ` +
		`[/usr/sbin/iptables -t nat -N CNI-HOSTPORT-DNAT --wait]: exit status 4: iptables v1.8.9 (nf_tables): ` +
		` CHAIN_USER_ADD failed (File exists): chain CNI-HOSTPORT-DNAT`)
	if !isIptablesRace(seen) {
		t.Errorf("the chain creation race seen on this host is not retried")
	}
	if isIptablesRace(errors.New(`plugin type="bridge" failed (add): failed to allocate for range 0: no IP addresses available`)) {
		t.Errorf("an exhausted range is retried")
	}
}
