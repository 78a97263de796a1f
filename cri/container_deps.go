package cri

import (
	"context"
	"time"

	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// ContainerRuntime is what the container handlers need from the container runtime.
// *runtime.Manager satisfies it; tests use a fake.
type ContainerRuntime interface {
	Create(ctx context.Context, spec runtime.ContainerSpec) (runtime.Status, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	Status(id string) (runtime.Status, error)
	List() []runtime.Status
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
	ReopenLog(ctx context.Context, id string) error
}

// SandboxLookup finds a pod sandbox by its full id. *sandbox.Manager satisfies it.
type SandboxLookup interface {
	Get(id string) (sandbox.Sandbox, error)
}

// ImageInfo is what the container handlers need to know about a local image.
type ImageInfo struct {
	// ID is the image id (config digest, "sha256:…"): the key of the image's rootfs.
	ID string
	// RepoTags and RepoDigests are the image's names ("busybox:1.36", "busybox@sha256:…").
	RepoTags    []string
	RepoDigests []string
	// Config holds the container defaults from the image configuration.
	Config runtime.ImageConfig
}

// ImageResolver finds a local image by reference, id or id prefix. A missing image is an
// error wrapping errdefs.ErrNotFound. The wiring adapts the images service to it.
type ImageResolver interface {
	ResolveImage(ctx context.Context, ref string) (ImageInfo, error)
}
