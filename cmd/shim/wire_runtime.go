package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/crishim/crishim/cri"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// The domain implementations satisfy the interfaces the cri package and sandbox declare.
var (
	_ cri.ContainerRuntime = (*runtime.Manager)(nil)
	_ cri.SandboxLookup    = (*sandbox.Manager)(nil)
	_ sandbox.Containers   = (*runtime.Manager)(nil)
	_ runtime.Rootfs       = rootfsAdapter[runtime.Mount]{}
	_ cri.ImageResolver    = imageResolverFunc(nil)
)

// newContainerRuntime builds the container runtime from the [runtime] section: records under
// <root_dir>/runtime, libcontainer state and monitor sockets under <state_dir>/runtime.
// rootfs prepares container root filesystems (the image service, through rootfsAdapter).
func newContainerRuntime(cfg Config, rootfs runtime.Rootfs, log *slog.Logger) (*runtime.Manager, error) {
	return runtime.New(cfg.Runtime,
		filepath.Join(cfg.RootDir, "runtime"),
		filepath.Join(cfg.StateDir, "runtime"),
		rootfs, log.With("component", "runtime"))
}

// mountLike is any mount struct with runtime.Mount's fields (images returns its own
// identical type, so the conversion is free).
type mountLike interface {
	~struct {
		Type    string
		Source  string
		Options []string
	}
}

// rootfsSource is the image service's side of container root filesystems.
type rootfsSource[M any] interface {
	PrepareRootfs(ctx context.Context, key, imageID string) (M, error)
	RemoveRootfs(ctx context.Context, key string) error
}

// rootfsAdapter makes an image service (returning its own Mount type) a runtime.Rootfs:
// rootfsAdapter[images.Mount]{src: imagesService}.
type rootfsAdapter[M mountLike] struct {
	src rootfsSource[M]
}

// PrepareRootfs prepares the rootfs of container key from imageID.
func (a rootfsAdapter[M]) PrepareRootfs(ctx context.Context, key, imageID string) (runtime.Mount, error) {
	m, err := a.src.PrepareRootfs(ctx, key, imageID)
	if err != nil {
		return runtime.Mount{}, err
	}
	return runtime.Mount(m), nil
}

// RemoveRootfs removes the rootfs of container key.
func (a rootfsAdapter[M]) RemoveRootfs(ctx context.Context, key string) error {
	return a.src.RemoveRootfs(ctx, key)
}

// imageResolverFunc adapts a function to cri.ImageResolver; the wiring closes over the image
// service and copies ID, RepoTags, RepoDigests and the config fields into cri.ImageInfo.
type imageResolverFunc func(ctx context.Context, ref string) (cri.ImageInfo, error)

// ResolveImage calls f.
func (f imageResolverFunc) ResolveImage(ctx context.Context, ref string) (cri.ImageInfo, error) {
	return f(ctx, ref)
}
