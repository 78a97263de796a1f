package images

import (
	"context"
	"fmt"

	"github.com/crishim/crishim/images/lock"
	"github.com/crishim/crishim/internal/errdefs"
)

// PrepareRootfs creates the writable layer of container key over the snapshots of image
// (ID or reference) and returns the overlay mount for the runtime to perform: lowerdirs
// newest first, a fresh upperdir and workdir. Preparing the same key again for the same image
// returns the same mount.
func (s *Service) PrepareRootfs(ctx context.Context, key, image string) (Mount, error) {
	if err := ctx.Err(); err != nil {
		return Mount{}, err
	}
	// Shared lock: the snapshots must not be collected between the lookup and the rootfs
	// record that references them.
	unlock, err := lock.Shared(s.opLockPath())
	if err != nil {
		return Mount{}, err
	}
	defer s.collectIfPending()
	defer unlock()
	img, err := s.Resolve(image)
	if err != nil {
		return Mount{}, err
	}
	rec, ok := s.record(img.ID)
	if !ok {
		return Mount{}, fmt.Errorf("image %q: %w", image, errdefs.ErrNotFound)
	}
	m, err := s.snaps.Prepare(key, img.ID, rec.Chain)
	if err != nil {
		return Mount{}, fmt.Errorf("rootfs %q of image %s: %w", key, img.ID, err)
	}
	return m, nil
}

// RemoveRootfs deletes container key's writable layer (the runtime unmounts it first).
// Removing an absent rootfs is not an error. Snapshots only the rootfs kept alive (its image
// was removed meanwhile) are collected.
func (s *Service) RemoveRootfs(ctx context.Context, key string) error {
	r, err := s.snaps.Rootfs(key)
	if err := s.snaps.RemoveRootfs(key); err != nil {
		return err
	}
	if err == nil {
		if _, ok := s.record(r.ImageID); !ok {
			s.tryCollect()
		}
	}
	return nil
}

// RootfsUsage returns the bytes and inodes used by container key's writable layer.
func (s *Service) RootfsUsage(key string) (bytes, inodes uint64, err error) {
	return s.snaps.RootfsUsage(key)
}
