package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestImportDockerSave(t *testing.T) {
	img := mkImage(t, "amd64", v1.Config{Cmd: []string{"sh"}},
		mkLayer(t, compression.GZip, tent{name: "a", body: "a"}), mkLayer(t, compression.None, tent{name: "b", body: "b"}))
	tag, _ := name.NewTag("busybox:import")
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	s := newService(t, t.TempDir(), newRegistry(t))
	var out bytes.Buffer
	imgs, err := s.Import(context.Background(), &buf, &out)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	if len(imgs) != 1 || imgs[0].ID != id.String() || imgs[0].RepoTags[0] != "docker.io/library/busybox:import" {
		t.Fatalf("imported %+v", imgs)
	}
	if !strings.Contains(out.String(), "imported "+id.String()) {
		t.Errorf("progress output %q", out.String())
	}
	if got, err := s.Resolve("busybox:import"); err != nil || got.Config.Cmd[0] != "sh" {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	if _, err := s.PrepareRootfs(context.Background(), "c", id.String()); err != nil {
		t.Fatal(err)
	}
}

func TestImportOCILayout(t *testing.T) {
	img := mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.ZStd, tent{name: "z", body: "z"}))
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "registry.test/oci:1"})); err != nil {
		t.Fatal(err)
	}
	// A second service on the same root plays the daemon: it sees the import without restart.
	root := t.TempDir()
	tr := newRegistry(t)
	daemon := newService(t, root, tr)
	s := newService(t, root, tr)
	if _, err := s.Import(context.Background(), tarDir(t, dir), nil); err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	if got, err := daemon.Resolve("registry.test/oci:1"); err != nil || got.ID != id.String() {
		t.Fatalf("daemon resolve: %+v %v", got, err)
	}
	if l := daemon.List(); len(l) != 1 {
		t.Fatalf("daemon list: %+v", l)
	}
}

func TestImportGarbage(t *testing.T) {
	s := newService(t, t.TempDir(), newRegistry(t))
	if _, err := s.Import(context.Background(), strings.NewReader("not a tar at all, clearly"), nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("garbage: %v", err)
	}
}

func tarDir(t *testing.T, dir string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
		return nil
	})
	tw.Close()
	return &buf
}
