package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/crishim/crishim/cni"
	"github.com/crishim/crishim/cri"
	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/metrics"
	"github.com/crishim/crishim/internal/preflight"
)

// gracefulStopTimeout bounds how long SIGTERM waits for in-flight RPCs before closing them.
const gracefulStopTimeout = 10 * time.Second

func runDaemon(ctx context.Context, configPath string, explicit bool) error {
	sd := newNotifier()
	cfg, log, err := loadConfigAndLogger(configPath, explicit)
	if err != nil {
		return err
	}
	for _, d := range []string{cfg.RootDir, cfg.StateDir, filepath.Dir(cfg.Socket)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	logPreflight(log, preflight.Run(preflight.Real(), preflightParams(cfg)))
	if err := checkSocketFree(cfg.Socket); err != nil {
		return err
	}
	unlock, err := lockRoot(cfg.RootDir)
	if err != nil {
		return err
	}
	defer unlock()
	lis, err := listenSocket(cfg.Socket)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	prom, err := startMetrics(ctx, cfg.Metrics, log)
	if err != nil {
		return err
	}
	var obs cri.Observer // a nil *metrics.Metrics must stay a nil interface
	if prom != nil {
		obs = prom
	}
	network, err := cni.New(cfg.CNI, cfg.RootDir, log.With("component", "cni"))
	if err != nil {
		return err
	}
	imgSvc, err := images.New(cfg.Images, imagesRoot(cfg), log.With("component", "images"))
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	imgs := containerImages{imgSvc}
	ctrs, err := newContainerRuntime(cfg, imgs, log)
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	defer ctrs.Close()
	sandboxes, err := newSandboxes(cfg, network, ctrs, log)
	if err != nil {
		return err
	}
	defer sandboxes.Close()
	if prom != nil {
		if err := registerDomainMetrics(prom, sandboxes, ctrs, imgSvc); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	cfgInfo, err := cfg.asMap()
	if err != nil {
		return err
	}
	srv := cri.NewServer(cri.Options{
		Log:           log,
		Network:       network,
		PodCIDR:       network,
		Sandboxes:     sandboxes,
		Containers:    ctrs,
		Images:        imgSvc,
		ImageResolver: imgs,
		// Where images keeps container writable layers (images.Service.ContainerFsInfo).
		WritableLayerMountpoint: filepath.Join(cfg.RootDir, "images", "rootfs"),
		Version:                 buildVersion(),
		Info:                    map[string]any{"config": cfgInfo},
	})
	g := grpc.NewServer(
		grpc.ChainUnaryInterceptor(cri.UnaryInterceptor(log, obs)),
		grpc.ChainStreamInterceptor(cri.StreamInterceptor(log, obs)),
	)
	srv.Register(g)
	stopStreaming, err := startStreaming(srv, cfg.Streaming, log)
	if err != nil {
		return err
	}
	defer stopStreaming()

	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	log.Info("crishim serving", "socket", cfg.Socket, "version", buildVersion(), "root", cfg.RootDir, "state", cfg.StateDir)
	// The listener is bound, so connections made from now on are served: tell systemd.
	if err := sd.notify("READY=1\nSTATUS=serving " + cfg.Socket); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	go collectNetworks(ctx, sandboxes, network, log)

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.Socket, err)
	case <-ctx.Done():
	}
	log.Info("stopping: containers keep running")
	_ = sd.notify("STOPPING=1")
	stopGRPC(g)
	os.Remove(cfg.Socket)
	return nil
}

// startMetrics serves Prometheus metrics when an address is configured; it returns nil when
// metrics are off.
func startMetrics(ctx context.Context, cfg MetricsConfig, log *slog.Logger) (*metrics.Metrics, error) {
	if cfg.Address == "" {
		return nil, nil
	}
	m := metrics.New()
	addr, errc, err := m.Serve(ctx, cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", cfg.Address, err)
	}
	go func() {
		if err := <-errc; err != nil {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "address", addr.String())
	return m, nil
}

// stopGRPC drains in-flight RPCs, then cuts the rest off after gracefulStopTimeout.
func stopGRPC(g *grpc.Server) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(gracefulStopTimeout):
		g.Stop()
	}
}

// listenSocket listens on a unix socket with mode 0660. A stale socket file is removed, but a
// socket that a live process still answers on is never taken over.
func listenSocket(path string) (net.Listener, error) {
	if err := checkSocketFree(path); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	old := unix.Umask(0o117)
	lis, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		lis.Close()
		return nil, err
	}
	return lis, nil
}

// checkSocketFree fails when a live process accepts connections on the socket at path.
func checkSocketFree(path string) error {
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("socket %s is in use by another running daemon; stop it or set a different socket", path)
}

// lockRoot takes an exclusive lock on the root dir so two daemons never share a store.
func lockRoot(root string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("root dir %s is in use by another running daemon", root)
		}
		return nil, fmt.Errorf("lock %s: %w", root, err)
	}
	return func() { f.Close() }, nil
}

// loadConfigAndLogger loads the configuration and builds the logger it asks for; every
// subcommand that works on the daemon's store starts with it.
func loadConfigAndLogger(configPath string, explicit bool) (Config, *slog.Logger, error) {
	cfg, err := LoadConfig(configPath, explicit)
	if err != nil {
		return cfg, nil, err
	}
	log, err := newLogger(cfg)
	return cfg, log, err
}

func newLogger(cfg Config) (*slog.Logger, error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

// version is set at link time (-ldflags "-X main.version=…") by the Makefile.
var version string

// buildVersion returns the link-time version, else the module version or VCS revision.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "0.0.0-dev+" + s.Value[:12]
		}
	}
	return "0.0.0-dev"
}
