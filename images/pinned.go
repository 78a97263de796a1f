package images

import (
	"slices"

	"github.com/crishim/crishim/images/reference"
)

// pinnedRefs normalizes the configured pinned references (validated by Config.Validate).
func pinnedRefs(refs []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range refs {
		if r, err := reference.Parse(p); err == nil {
			out[r.String()] = true
		}
	}
	return out
}

// withPinned sets Pinned on an image one of whose repo tags or digests is configured pinned.
// It is computed when an image is handed out, never stored, so a configuration change applies
// to images already in the store. Pinning only tells kubelet's image GC to keep the image:
// crishim's own GC never removes an image record (it removes only blobs and snapshots no record
// or container uses), and RemoveImage removes a pinned image as it would any other, as
// containerd does.
func (s *Service) withPinned(img Image) Image {
	img.Pinned = slices.ContainsFunc(img.RepoTags, s.isPinned) || slices.ContainsFunc(img.RepoDigests, s.isPinned)
	return img
}

func (s *Service) isPinned(ref string) bool { return s.pinned[ref] }
