package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
)

// RandomSuffix returns n random bytes in hex, for names that must not collide with those of
// tests running concurrently (cgroups, bridges, netns).
func RandomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartShim writes cfg to dir/config.toml and starts `shim daemon --config FILE` in its own
// cgroup, waiting until its socket accepts connections.
func StartShim(ctx context.Context, shimBin, dir, logPath string, cfg ShimConfig) (*Daemon, error) {
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg.TOML()), 0o644); err != nil {
		return nil, err
	}
	return startAndWait(ctx, "shim", []string{shimBin, "daemon", "--config", path}, logPath,
		"crishim-e2e-"+RandomSuffix(4)+"-daemon", cfg.Socket)
}

// startAndWait starts a daemon and waits until socket accepts connections; a daemon that
// does not get there is stopped and its cgroup removed.
func startAndWait(ctx context.Context, name string, argv []string, logPath, cgroup, socket string) (*Daemon, error) {
	d, err := StartDaemon(name, argv, logPath, cgroup)
	if err != nil {
		return nil, err
	}
	if err := d.WaitSocket(ctx, socket, 60*time.Second); err != nil {
		_ = d.Stop(10 * time.Second)
		d.RemoveCgroup()
		return nil, err
	}
	return d, nil
}

// StartContainerd starts a private containerd (the reference runtime) configured by cfg, and
// waits until its socket accepts connections.
func StartContainerd(ctx context.Context, containerdBin, logPath string, cfg ContainerdConfig) (*Daemon, error) {
	path, err := cfg.Write()
	if err != nil {
		return nil, err
	}
	return startAndWait(ctx, "containerd", []string{containerdBin, "--config", path, "--log-level", "info"}, logPath,
		"crishim-e2e-"+RandomSuffix(4)+"-containerd", cfg.Socket)
}

// DeleteLink deletes the network link name if it exists (e.g. a CNI bridge of ours).
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// RemoveCgroup removes the daemon's cgroup (it must be empty by then).
func (d *Daemon) RemoveCgroup() {
	if d.Cgroup != "" {
		if err := RemoveCgroup(d.Cgroup); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: remove cgroup of %s: %v\n", d.Name, err)
		}
	}
}
