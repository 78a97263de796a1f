package cri

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/errdefs"
)

// imageServer returns a CRI server over an image store whose "registry.test" is mirrored to
// an in-process registry holding registry.test/app:1 (USER www-data) and app:2 (USER 1002).
// pinned is the [images] pinned list.
func imageServer(t *testing.T, pinned ...string) *Server {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for tag, user := range map[string]string{"1": "www-data", "2": "1002:1003"} {
		cf, _ := empty.Image.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Config.User = "linux", "amd64", user
		img, err := mutate.ConfigFile(empty.Image, cf)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host + "/app:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	cfg := images.DefaultConfig()
	cfg.Registries["registry.test"] = images.RegistryConfig{Mirrors: []string{"http://" + host}}
	cfg.Pinned = pinned
	svc, err := images.New(cfg, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(Options{Images: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func spec(ref string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: ref} }

func TestImageRPCs(t *testing.T) {
	s := imageServer(t)
	ctx := context.Background()
	pulled, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("registry.test/app:1")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pulled.ImageRef, "sha256:") {
		t.Fatalf("image_ref %q", pulled.ImageRef)
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("registry.test/app:2")}); err != nil {
		t.Fatal(err)
	}
	st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("registry.test/app:1"), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Image.Id != pulled.ImageRef || st.Image.Username != "www-data" || st.Image.Uid != nil || st.Image.Size == 0 ||
		st.Image.RepoTags[0] != "registry.test/app:1" || !strings.Contains(st.Info["info"], "www-data") {
		t.Fatalf("status %+v %v", st.Image, st.Info)
	}
	st2, _ := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("registry.test/app:2")})
	if st2.Image.GetUid().GetValue() != 1002 || st2.Image.Username != "" {
		t.Fatalf("status of app:2 %+v", st2.Image)
	}
	list, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.Images) != 2 {
		t.Fatalf("list %v %v", list, err)
	}
	one, _ := s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(pulled.ImageRef)}})
	if len(one.Images) != 1 || one.Images[0].Id != pulled.ImageRef {
		t.Fatalf("filtered list %v", one)
	}
	fs, err := s.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || fs.ImageFilesystems[0].UsedBytes.Value == 0 || fs.ContainerFilesystems[0].FsId.Mountpoint == "" {
		t.Fatalf("fs info %v %v", fs, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(pulled.ImageRef)}); err != nil {
			t.Fatalf("remove #%d: %v", i, err)
		}
	}
	st, err = s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("registry.test/app:1")})
	if err != nil || st.Image != nil {
		t.Fatalf("status after remove: %v %v", st, err)
	}
}

// A configured pinned image is pinned in ImageStatus and ListImages; others are not.
func TestImagePinnedRPCs(t *testing.T) {
	s := imageServer(t, "registry.test/app:1")
	ctx := context.Background()
	for _, ref := range []string{"registry.test/app:1", "registry.test/app:2"} {
		if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref)}); err != nil {
			t.Fatal(err)
		}
		st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(ref)})
		if err != nil || st.Image.Pinned != (ref == "registry.test/app:1") {
			t.Errorf("status of %s: pinned %v, %v", ref, st.GetImage().GetPinned(), err)
		}
	}
	list, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.Images) != 2 {
		t.Fatalf("list %v %v", list, err)
	}
	for _, img := range list.Images {
		if img.Pinned != (img.RepoTags[0] == "registry.test/app:1") {
			t.Errorf("list: %v pinned %v", img.RepoTags, img.Pinned)
		}
	}
}

func TestImageRPCErrors(t *testing.T) {
	s := imageServer(t)
	ctx := context.Background()
	_, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("")})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "image.image") {
		t.Errorf("empty ref: %v", err)
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("BAD ref")}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad ref: %v", err)
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("registry.test/nope:1")}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing image: %v", err)
	}
	bad := &runtimeapi.ImageSpec{Image: "registry.test/app:1", RuntimeHandler: "no-such-handler"}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: bad}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown runtime handler: %v", err)
	}
	if _, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("status without image: %v", err)
	}
	if _, err := s.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("remove without image: %v", err)
	}
	none := NewServer(Options{})
	if _, err := none.ListImages(ctx, &runtimeapi.ListImagesRequest{}); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("no image service: %v", err)
	}
}

type fakeImageStream struct {
	grpc.ServerStream
	got []*runtimeapi.StreamImagesResponse
}

func (f *fakeImageStream) Send(r *runtimeapi.StreamImagesResponse) error {
	f.got = append(f.got, r)
	return nil
}

func (f *fakeImageStream) Context() context.Context { return context.Background() }

func TestStreamImages(t *testing.T) {
	s := imageServer(t)
	var buf bytes.Buffer
	if err := tarball.Write(name.MustParseReference("x:1"), empty.Image, &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := s.opts.Images.Import(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	var fs fakeImageStream
	if err := s.StreamImages(&runtimeapi.StreamImagesRequest{}, &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs.got) != 1 || len(fs.got[0].Images) != 1 || fs.got[0].Images[0].RepoTags[0] != "docker.io/library/x:1" {
		t.Fatalf("stream %v", fs.got)
	}
}
