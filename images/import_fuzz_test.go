package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

// FuzzImportManifest imports archives whose manifest.json (docker save) or index.json (OCI
// layout) is arbitrary, next to a valid config, layer and OCI manifest. Nothing may panic or
// hang; a refused archive is an InvalidArgument or NotFound error; an imported image resolves by
// its id. The seeds run with a plain `go test`; fuzz with
//
//	go test -tags seccomp -run XXX -fuzz FuzzImportManifest -fuzzminimizetime 0s ./images/
func FuzzImportManifest(f *testing.F) {
	layer := layerTar(f, tent{name: "f", body: "fuzz"})
	layerDg := fmt.Sprintf("sha256:%x", sha256.Sum256(layer))
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["` + layerDg + `"]}}`)
	cfgDg := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cfgDg + `","size":` + fmt.Sprint(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
		layerDg + `","size":` + fmt.Sprint(len(layer)) + `}]}`)
	manDg := fmt.Sprintf("sha256:%x", sha256.Sum256(man))
	blobs := map[string][]byte{
		"config.json": cfg, "layer.tar": layer,
		"blobs/sha256/" + cfgDg[7:]: cfg, "blobs/sha256/" + layerDg[7:]: layer, "blobs/sha256/" + manDg[7:]: man,
	}
	f.Add([]byte(`[{"Config":"config.json","RepoTags":["busybox:fuzz"],"Layers":["layer.tar"]}]`), false)
	f.Add([]byte(`[{"Config":"../config.json","RepoTags":["bad tag","x@sha256:00"],"Layers":["layer.tar","layer.tar"]}]`), false)
	f.Add([]byte(`[{"Config":"blobs/sha256/`+manDg[7:]+`","Layers":[]}]`), false)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+manDg+
		`","size":`+fmt.Sprint(len(man))+`,"annotations":{"io.containerd.image.name":"registry.test/fuzz:1"}}]}`), true)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"`+manDg+`","size":1}]}`), true)
	f.Add([]byte(`{"manifests":[{"digest":"sha256:../../etc"}]}`), true)
	s := newService(f, f.TempDir(), newRegistry(f))
	f.Fuzz(func(t *testing.T, data []byte, oci bool) {
		name := "manifest.json"
		if oci {
			name = "index.json"
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for n, b := range blobs {
			writeTarFile(t, tw, n, b)
		}
		writeTarFile(t, tw, name, data)
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		imgs, err := s.Import(context.Background(), &buf, nil)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("import error of the wrong kind: %v", err)
			}
			return
		}
		for _, img := range imgs {
			got, err := s.Resolve(img.ID)
			if err != nil || got.ID != img.ID {
				t.Fatalf("imported %s does not resolve: %+v %v", img.ID, got, err)
			}
		}
		if json.Valid(data) == false && len(imgs) > 0 {
			t.Fatalf("invalid JSON %q imported %d images", data, len(imgs))
		}
	})
}

func writeTarFile(t *testing.T, tw *tar.Writer, name string, b []byte) {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(b); err != nil {
		t.Fatal(err)
	}
}
