package images

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/images/snapshot"
	"github.com/crishim/crishim/internal/errdefs"
)

// Resolve finds an image by ID ("sha256:<hex>" or the bare hex), tag or digest reference
// (normalized: "busybox" is docker.io/library/busybox:latest) or unique ID prefix of at least
// 12 hex digits. An unknown
// image is errdefs.ErrNotFound. Records added by another process are picked up on a miss.
func (s *Service) Resolve(ref string) (Image, error) {
	if r := s.find(ref); r != nil {
		return s.withPinned(r.Image), nil
	}
	s.refresh()
	if r := s.find(ref); r != nil {
		return s.withPinned(r.Image), nil
	}
	return Image{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

// Get is Resolve under the name container creation expects.
func (s *Service) Get(ref string) (Image, error) { return s.Resolve(ref) }

func isHex(v string) bool {
	if len(v)%2 == 1 {
		v += "0"
	}
	_, err := hex.DecodeString(v)
	return err == nil && strings.ToLower(v) == v
}

func (s *Service) find(ref string) *record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := strings.TrimPrefix(ref, "sha256:")
	if len(h) == 64 && isHex(h) {
		if r, ok := s.records["sha256:"+h]; ok {
			return r
		}
	}
	if r, err := reference.Parse(ref); err == nil {
		want := r.String()
		for _, rec := range s.records {
			if slices.Contains(rec.RepoTags, want) || slices.Contains(rec.RepoDigests, want) {
				return rec
			}
		}
	}
	// Short IDs need docker's 12 digits, so a short hex repository name ("cafe") is never
	// mistaken for an ID prefix of some unrelated image.
	if len(h) >= 12 && len(h) < 64 && isHex(h) {
		var match *record
		for id, rec := range s.records {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), h) {
				if match != nil {
					return nil // ambiguous
				}
				match = rec
			}
		}
		return match
	}
	return nil
}

func (s *Service) record(id string) (*record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.records[id]
	return r, ok
}

// List returns every image, sorted by ID.
func (s *Service) List() []Image {
	s.refresh()
	s.mu.RLock()
	out := make([]Image, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, s.withPinned(r.Image))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Remove deletes the image ref resolves to, with every tag and digest reference it has, then
// collects its blobs and snapshots unless a container or another image uses them. Removing
// an absent image is not an error.
func (s *Service) Remove(ref string) error {
	img, err := s.Resolve(ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.deleteRecord(img.ID); err != nil {
		return err
	}
	s.log.Info("image removed", "image", img.ID, "tags", img.RepoTags)
	s.tryCollect()
	return nil
}

// FsInfo reports the usage of the image filesystem: blobs and layer snapshots. Snapshot
// figures are computed once per snapshot (they never change), so this stays cheap.
func (s *Service) FsInfo() (FsUsage, error) {
	bb, bi, err := snapshot.DiskUsage(filepath.Join(s.root, "blobs"))
	if err != nil {
		return FsUsage{}, err
	}
	sb, si, err := s.snaps.Usage()
	if err != nil {
		return FsUsage{}, err
	}
	return FsUsage{Mountpoint: s.root, UsedBytes: bb + sb, InodesUsed: bi + si}, nil
}

// ContainerFsInfo reports the usage of the containers' writable layers. They live on the
// same filesystem as the images, so the mountpoint is the store's root too.
func (s *Service) ContainerFsInfo() (FsUsage, error) {
	b, i, err := snapshot.DiskUsage(filepath.Join(s.root, "rootfs"))
	if err != nil {
		return FsUsage{}, err
	}
	return FsUsage{Mountpoint: s.root, UsedBytes: b, InodesUsed: i}, nil
}
