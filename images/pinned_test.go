package images

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestPinnedConfigInvalid(t *testing.T) {
	c := DefaultConfig()
	c.Pinned = []string{"registry.k8s.io/pause:3.10", "Bad Ref"}
	err := c.Validate()
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), `"Bad Ref"`) || !strings.Contains(err.Error(), "images.pinned") {
		t.Fatalf("bad pinned entry: %v", err)
	}
	c.Pinned = []string{"pause:3.10", "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64)}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Pinned images are reported pinned by Resolve and List whichever of their references the
// configuration names (normalized), other images are not; RemoveImage still removes a pinned
// image, as containerd does.
func TestPinnedImages(t *testing.T) {
	tr := newRegistry(t)
	a := mkImage(t, "amd64", v1.Config{Cmd: []string{"/a"}}, mkLayer(t, compression.GZip, tent{name: "a", body: "a"}))
	b := mkImage(t, "amd64", v1.Config{Cmd: []string{"/b"}}, mkLayer(t, compression.GZip, tent{name: "b", body: "b"}))
	c := mkImage(t, "amd64", v1.Config{Cmd: []string{"/c"}}, mkLayer(t, compression.GZip, tent{name: "c", body: "c"}))
	tr.push(t, "pause:3.10", a)
	tr.push(t, "other:1", b)
	tr.push(t, "bydigest:1", c)
	cd, _ := c.Digest()
	s := newServiceWith(t, t.TempDir(), tr, func(cfg *Config) {
		cfg.Pinned = []string{"registry.test/pause:3.10", "registry.test/bydigest@" + cd.String()}
	})
	ctx := context.Background()
	want := map[string]bool{}
	for ref, pinned := range map[string]bool{"registry.test/pause:3.10": true, "registry.test/other:1": false, "registry.test/bydigest:1": true} {
		img, err := s.Pull(ctx, ref, Auth{})
		if err != nil {
			t.Fatal(err)
		}
		if img.Pinned != pinned {
			t.Errorf("Pull(%s).Pinned = %v", ref, img.Pinned)
		}
		if r, _ := s.Resolve(ref); r.Pinned != pinned {
			t.Errorf("Resolve(%s).Pinned = %v", ref, r.Pinned)
		}
		want[img.ID] = pinned
	}
	for _, img := range s.List() {
		if img.Pinned != want[img.ID] {
			t.Errorf("List: %v pinned = %v", img.RepoTags, img.Pinned)
		}
	}
	if err := s.Remove("registry.test/pause:3.10"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve("registry.test/pause:3.10"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("pinned image not removed: %v", err)
	}
}
