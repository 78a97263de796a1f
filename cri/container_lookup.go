package cri

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// containers returns the container runtime, or a NotImplemented error when the daemon was
// built without one.
func (s *Server) containers() (ContainerRuntime, error) {
	if s.opts.Containers == nil {
		return nil, fmt.Errorf("containers: no container runtime is configured: %w", errdefs.ErrNotImplemented)
	}
	return s.opts.Containers, nil
}

// findContainer returns the container runtime and the status of the container named by id
// (full id or unique prefix).
func (s *Server) findContainer(id string) (ContainerRuntime, runtime.Status, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, runtime.Status{}, err
	}
	st, err := lookupContainer(rt, id)
	return rt, st, err
}

// lookupContainer finds a container by full id or unique id prefix (as crictl users type
// them). Unknown ids are errdefs.ErrNotFound naming the id; ambiguous prefixes are invalid.
func lookupContainer(rt ContainerRuntime, id string) (runtime.Status, error) {
	if id == "" {
		return runtime.Status{}, fmt.Errorf("container_id: required: %w", errdefs.ErrInvalidArgument)
	}
	st, err := rt.Status(id)
	if err == nil || !errors.Is(err, errdefs.ErrNotFound) {
		return st, err
	}
	var found []runtime.Status
	for _, c := range rt.List() {
		if strings.HasPrefix(c.ID, id) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return runtime.Status{}, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	case 1:
		return found[0], nil
	default:
		return runtime.Status{}, fmt.Errorf("container id prefix %q matches %d containers: %w", id, len(found), errdefs.ErrInvalidArgument)
	}
}

// imageRef returns the reference reported as image_ref: the image's first repo digest, else
// its id. cache (may be nil) saves lookups across one List.
func (s *Server) imageRef(ctx context.Context, img runtime.Image, cache map[string]string) string {
	if ref, ok := cache[img.ID]; ok {
		return ref
	}
	ref := img.ID
	if s.opts.ImageResolver != nil && img.ID != "" {
		if info, err := s.opts.ImageResolver.ResolveImage(ctx, img.ID); err == nil && len(info.RepoDigests) > 0 {
			ref = info.RepoDigests[0]
		}
	}
	if cache != nil {
		cache[img.ID] = ref
	}
	return ref
}

// seconds converts a CRI timeout in seconds to a Duration: negative is 0, and values too
// large for a Duration are capped rather than overflowing into a negative one.
func seconds(s int64) time.Duration {
	const maxSeconds = int64(math.MaxInt64 / int64(time.Second))
	return time.Duration(min(max(s, 0), maxSeconds)) * time.Second
}

// runningContainer resolves a container id (or unique prefix) to the full id of a running
// container: NotFound for an unknown one, FailedPrecondition naming it when it is not
// running. verb describes the operation in the message.
func (s *Server) runningContainer(id, verb string) (string, error) {
	rt, err := s.containers()
	if err != nil {
		return "", err
	}
	st, err := lookupContainer(rt, id)
	if err != nil {
		return "", err
	}
	if st.State != runtime.StateRunning {
		return "", fmt.Errorf("%s container %q: container is not running (state %s): %w", verb, st.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	return st.ID, nil
}
