package cri

import (
	"context"
	"errors"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// CreateContainer creates a container in a ready pod sandbox from a local image. A retry of
// the same request while it runs, or after it finished, gets the same container id.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, err
	}
	if err := validateCreateContainer(req); err != nil {
		return nil, err
	}
	if s.opts.PodLookup == nil || s.opts.ImageResolver == nil {
		return nil, fmt.Errorf("create container: no sandbox or image service is configured: %w", errdefs.ErrNotImplemented)
	}
	pod, err := s.opts.PodLookup.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, fmt.Errorf("create container %q: %w", req.GetConfig().GetMetadata().GetName(), err)
	}
	if pod.State != sandbox.StateReady {
		return nil, fmt.Errorf("create container %q: pod sandbox %q is not ready: %w", req.GetConfig().GetMetadata().GetName(), pod.ID, errdefs.ErrFailedPrecondition)
	}
	exists := func(id string) bool { _, err := rt.Status(id); return err == nil }
	hash := createHash(req)
	id, err := s.creates.do(ctx, createKey(pod.ID, req.GetConfig().GetMetadata()), hash, exists,
		func(cctx context.Context) (string, error) {
			return s.createContainer(cctx, rt, pod, req.GetConfig(), hash)
		})
	if err != nil {
		return nil, err
	}
	s.logger(ctx).Debug("container created", "pod", pod.ID, "container", id, "name", req.GetConfig().GetMetadata().GetName())
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// validateCreateContainer checks the required fields, naming the first one missing.
func validateCreateContainer(req *runtimeapi.CreateContainerRequest) error {
	switch {
	case req.GetPodSandboxId() == "":
		return fmt.Errorf("pod_sandbox_id: required: %w", errdefs.ErrInvalidArgument)
	case req.GetConfig() == nil:
		return fmt.Errorf("config: required: %w", errdefs.ErrInvalidArgument)
	case req.GetConfig().GetMetadata() == nil:
		return fmt.Errorf("config.metadata: required: %w", errdefs.ErrInvalidArgument)
	case req.GetConfig().GetMetadata().GetName() == "":
		return fmt.Errorf("config.metadata.name: required: %w", errdefs.ErrInvalidArgument)
	case req.GetConfig().GetImage().GetImage() == "":
		return fmt.Errorf("config.image.image: required: %w", errdefs.ErrInvalidArgument)
	}
	if err := validName("config.metadata.name", req.GetConfig().GetMetadata().GetName()); err != nil {
		return err
	}
	return validMetadataSize("config", req.GetConfig().GetLabels(), req.GetConfig().GetAnnotations())
}

// validName rejects names that cannot be a file name component or a log field: longer than
// 253 bytes, "." or "..", or with '/', spaces or control characters (Kubernetes names are far
// stricter).
func validName(field, name string) error {
	if len(name) > 253 || name == "." || name == ".." ||
		strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%s %q: must be at most 253 bytes, not . or .., without '/', spaces or control characters: %w", field, name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validMetadataSize bounds labels plus annotations (keys and values) to Kubernetes' own limit
// on an object's annotations, the same bound the sandbox package applies to pods.
func validMetadataSize(field string, labels, annotations map[string]string) error {
	n := 0
	for _, m := range []map[string]string{labels, annotations} {
		for k, v := range m {
			n += len(k) + len(v)
		}
	}
	if n > sandbox.MaxMetadataBytes {
		return fmt.Errorf("%s.labels and annotations: %d bytes in total, at most %d allowed: %w", field, n, sandbox.MaxMetadataBytes, errdefs.ErrInvalidArgument)
	}
	return nil
}

// createContainer resolves the image, builds the spec and asks the runtime to create it.
// A name held by a container made from the same request (hash) is that container: the
// retry of a create whose answer was lost in a daemon restart.
func (s *Server) createContainer(ctx context.Context, rt ContainerRuntime, pod sandbox.Sandbox, cfg *runtimeapi.ContainerConfig, hash string) (string, error) {
	ref := cfg.GetImage().GetImage()
	img, err := s.resolveImage(ctx, ref)
	if err != nil {
		return "", err
	}
	b := specBuilder{
		pod:          pod,
		image:        img,
		imageRef:     displayRef(ref, img),
		resolveImage: func(r string) (ImageInfo, error) { return s.resolveImage(ctx, r) },
	}
	spec, err := b.build(cfg)
	if err != nil {
		return "", fmt.Errorf("create container %q in pod %q: %w", cfg.GetMetadata().GetName(), pod.ID, err)
	}
	spec.RequestHash = hash
	st, err := rt.Create(ctx, spec)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		if id := sameRequestHolder(rt, spec); id != "" {
			return id, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("create container %q in pod %q: %w", cfg.GetMetadata().GetName(), pod.ID, err)
	}
	s.publishEvent(ctx, st.ID, pod.ID, evCreated)
	return st.ID, nil
}

// sameRequestHolder returns the id of the container holding spec's name if it was created
// from the same request, else "".
func sameRequestHolder(rt ContainerRuntime, spec runtime.ContainerSpec) string {
	if spec.RequestHash == "" {
		return ""
	}
	for _, c := range rt.List() {
		if c.PodID == spec.PodID && c.Name == spec.Name && c.Attempt == spec.Attempt && c.RequestHash == spec.RequestHash {
			return c.ID
		}
	}
	return ""
}

// resolveImage finds a local image; a missing one says "not found" in the words kubelet
// and users expect.
func (s *Server) resolveImage(ctx context.Context, ref string) (ImageInfo, error) {
	img, err := s.opts.ImageResolver.ResolveImage(ctx, ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return img, fmt.Errorf("image %q not found: %w", ref, errdefs.ErrNotFound)
	}
	if err != nil {
		return img, fmt.Errorf("image %q: %w", ref, err)
	}
	return img, nil
}

// displayRef is the image name reported in status: the reference as given, unless it is
// an image id (or id prefix), in which case the first repo tag when there is one.
func displayRef(ref string, img ImageInfo) string {
	isID := strings.HasPrefix(img.ID, ref) || strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), ref)
	if isID && len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	return ref
}
