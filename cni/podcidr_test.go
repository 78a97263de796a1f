package cni

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

// defaultSubnets reads the subnets out of the default network file.
func defaultSubnets(t *testing.T, cfg Config) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.ConfDir, DefaultConfFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpdatePodCIDRRejects(t *testing.T) {
	m, err := New(testConfig(t), t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	for in, bad := range map[string]string{
		"not-a-cidr":                          "not-a-cidr",
		"10.1.0.0/24,bogus":                   "bogus",
		"10.1.0.0/24,10.2.0.0/24":             "10.2.0.0/24",
		"fd00::/64,fd01::/64":                 "fd01::/64",
		"10.1.0.0/24,fd00::/64,10.3.0.0/24":   "10.3.0.0/24",
		"10.1.0.0/32":                         "10.1.0.0/32",
		"10.1.0.0/24,":                        `""`,
		" , ":                                 `""`,
		"10.1.0.0/24,fd00::/64,fd00:1::/64,x": "fd00:1::/64",
	} {
		err := m.UpdatePodCIDR(context.Background(), in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), bad) {
			t.Errorf("UpdatePodCIDR(%q) = %v, want InvalidArgument naming %s", in, err, bad)
		}
	}
	if m.podCIDRs != (subnets{}) {
		t.Fatalf("a rejected CIDR was recorded: %+v", m.podCIDRs)
	}
}

// TestUpdatePodCIDRDefaultNetwork moves the default network to the node's CIDRs, keeps them
// on an empty update, and keeps them across a restart (a new Manager on the same root).
func TestUpdatePodCIDRDefaultNetwork(t *testing.T) {
	cfg, root := testConfig(t), t.TempDir()
	m, err := New(cfg, root, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if s := defaultSubnets(t, cfg); !strings.Contains(s, `"10.88.0.0/16"`) {
		t.Fatalf("default network before the update:\n%s", s)
	}
	// Host bits are dropped: host-local wants the network address.
	if err := m.UpdatePodCIDR(context.Background(), "fd99::5/64, 10.99.1.7/24"); err != nil {
		t.Fatal(err)
	}
	s := defaultSubnets(t, cfg)
	if !strings.Contains(s, `"10.99.1.0/24"`) || !strings.Contains(s, `"fd99::/64"`) || strings.Contains(s, "10.88.") {
		t.Fatalf("default network not moved to the pod CIDRs:\n%s", s)
	}
	if n, err := m.current(context.Background()); err != nil || !strings.Contains(string(n.list.Bytes), "10.99.1.0/24") {
		t.Fatalf("network in use after the update: %v", err)
	}
	if err := m.UpdatePodCIDR(context.Background(), ""); err != nil {
		t.Fatalf("empty pod CIDR: %v", err)
	}
	if s := defaultSubnets(t, cfg); !strings.Contains(s, `"10.99.1.0/24"`) {
		t.Fatalf("an empty pod CIDR changed the network:\n%s", s)
	}

	// Restart with the file gone (a conf_dir on tmpfs, or removed by hand): the default is
	// written again with the node's CIDRs, not the configured subnet.
	if err := os.Remove(filepath.Join(cfg.ConfDir, DefaultConfFile)); err != nil {
		t.Fatal(err)
	}
	m2, err := New(cfg, root, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if s := defaultSubnets(t, cfg); !strings.Contains(s, `"10.99.1.0/24"`) || !strings.Contains(s, `"fd99::/64"`) {
		t.Fatalf("the pod CIDR did not survive a restart:\n%s", s)
	}
	if rt := m2.runtimeConf(PodNetwork{ID: "x"}); rt.CapabilityArgs["ipRanges"] == nil {
		t.Fatal("ipRanges capability lost across a restart")
	}

	// Restart with a stale file (crash between recording the CIDR and rewriting the file).
	writeFile(t, filepath.Join(cfg.ConfDir, DefaultConfFile), strings.ReplaceAll(defaultSubnets(t, cfg), "10.99.1.0/24", "10.88.0.0/16"))
	if _, err := New(cfg, root, discardLog()); err != nil {
		t.Fatal(err)
	}
	if s := defaultSubnets(t, cfg); !strings.Contains(s, `"10.99.1.0/24"`) {
		t.Fatalf("a stale default network was not brought to the pod CIDR at start:\n%s", s)
	}
}

// TestUpdatePodCIDRUserNetwork leaves a network that is not crishim's default alone, says so
// in the log, and still records the CIDRs (the ipRanges capability, and the default network
// should the user's config go away).
func TestUpdatePodCIDRUserNetwork(t *testing.T) {
	cfg := testConfig(t)
	writeFile(t, filepath.Join(cfg.ConfDir, "00-user.conflist"), listA)
	var logBuf bytes.Buffer
	m, err := New(cfg, t.TempDir(), slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePodCIDR(context.Background(), "10.98.0.0/24"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.ConfDir, "00-user.conflist")); string(b) != listA {
		t.Fatalf("the user's network was rewritten:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(cfg.ConfDir, DefaultConfFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a default network was written next to the user's: %v", err)
	}
	if !strings.Contains(logBuf.String(), "net-a") || !strings.Contains(logBuf.String(), "10.98.0.0/24") {
		t.Fatalf("log does not say the user's network was left alone:\n%s", logBuf.String())
	}
	if rt := m.runtimeConf(PodNetwork{ID: "x"}); rt.CapabilityArgs["ipRanges"] == nil {
		t.Fatal("ipRanges capability missing")
	}

	// A file named like the default but holding another network is not crishim's either.
	cfg2 := testConfig(t)
	writeFile(t, filepath.Join(cfg2.ConfDir, DefaultConfFile), listA)
	m2, err := New(cfg2, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.UpdatePodCIDR(context.Background(), "10.97.0.0/24"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg2.ConfDir, DefaultConfFile)); string(b) != listA {
		t.Fatalf("a user network in %s was rewritten:\n%s", DefaultConfFile, b)
	}
}

// TestUpdatePodCIDRWriteDefaultOff records the CIDRs but writes no file.
func TestUpdatePodCIDRWriteDefaultOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.WriteDefault = false
	m, err := New(cfg, t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePodCIDR(context.Background(), "10.96.0.0/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.ConfDir, DefaultConfFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write_default = false, yet a default network was written: %v", err)
	}
}
