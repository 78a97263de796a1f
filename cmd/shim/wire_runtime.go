package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/crishim/crishim/cri"
	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// The domain implementations satisfy the interfaces the cri package and sandbox declare.
var (
	_ cri.ContainerRuntime = (*runtime.Manager)(nil)
	_ cri.SandboxLookup    = (*sandbox.Manager)(nil)
	_ sandbox.Containers   = (*runtime.Manager)(nil)
	_ runtime.Rootfs       = containerImages{}
	_ runtime.RootfsUsage  = containerImages{}
	_ cri.StatsSource      = (*runtime.Manager)(nil)
	_ cri.ImageResolver    = containerImages{}
)

// newContainerRuntime builds the container runtime from the [runtime] section: records under
// <root_dir>/runtime, libcontainer state and monitor sockets under <state_dir>/runtime.
// rootfs prepares container root filesystems (the image service: containerImages{svc}).
func newContainerRuntime(cfg Config, rootfs runtime.Rootfs, log *slog.Logger) (*runtime.Manager, error) {
	return runtime.New(cfg.Runtime,
		filepath.Join(cfg.RootDir, "runtime"),
		filepath.Join(cfg.StateDir, "runtime"),
		rootfs, log.With("component", "runtime"))
}

// containerImages adapts the image service to what containers need from it: image lookup
// for the CRI container handlers and root filesystems for the runtime.
type containerImages struct{ svc *images.Service }

// ResolveImage finds a local image by reference, id or id prefix (errdefs.ErrNotFound if
// absent) and copies what container creation needs.
func (c containerImages) ResolveImage(ctx context.Context, ref string) (cri.ImageInfo, error) {
	img, err := c.svc.Resolve(ref)
	if err != nil {
		return cri.ImageInfo{}, err
	}
	ic := img.Config
	return cri.ImageInfo{
		ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests,
		Config: runtime.ImageConfig{User: ic.User, Entrypoint: ic.Entrypoint, Cmd: ic.Cmd, Env: ic.Env,
			WorkingDir: ic.WorkingDir, StopSignal: ic.StopSignal},
	}, nil
}

// PrepareRootfs prepares the rootfs of container key from imageID.
func (c containerImages) PrepareRootfs(ctx context.Context, key, imageID string) (runtime.Mount, error) {
	m, err := c.svc.PrepareRootfs(ctx, key, imageID)
	if err != nil {
		return runtime.Mount{}, err
	}
	return runtime.Mount(m), nil
}

// RemoveRootfs removes the rootfs of container key.
func (c containerImages) RemoveRootfs(ctx context.Context, key string) error {
	return c.svc.RemoveRootfs(ctx, key)
}

// RootfsUsage measures the writable layer of container key (for container stats).
func (c containerImages) RootfsUsage(key string) (bytes, inodes uint64, err error) {
	return c.svc.RootfsUsage(key)
}
