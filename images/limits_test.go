package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// TestPullManifestTooLarge: a registry answering with a manifest over the bound fails the pull
// with InvalidArgument, and the daemon stops reading it early (not the 100 MiB
// go-containerregistry would accept).
func TestPullManifestTooLarge(t *testing.T) {
	tr := newRegistry(t)
	var sent atomic.Int64
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/huge/manifests/") {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if r.Method == http.MethodHead {
			return true
		}
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for i := 0; i < 1024; i++ { // 64 MiB of whitespace: valid JSON padding, absurd size
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				break
			}
		}
		return true
	})
	s := newService(t, t.TempDir(), tr)
	_, err := s.Pull(context.Background(), "registry.test/huge:1", Auth{})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("pull of a 64 MiB manifest: %v", err)
	}
	if n := sent.Load(); n > 32<<20 { // what socket buffers hold on top of the bound
		t.Errorf("the registry could send %d bytes of one manifest", n)
	}
}

// TestPullConfigTooLarge: a manifest announcing a config over the bound is refused before the
// config is fetched.
func TestPullConfigTooLarge(t *testing.T) {
	tr := newRegistry(t)
	img := mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.None, tent{name: "a", body: "a"}))
	tr.push(t, "bigcfg:1", img)
	m, _ := img.Manifest()
	cfgDigest := m.Config.Digest.String()
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/bigcfg/manifests/") {
			m.Config.Size = 64 << 20
			b, _ := jsonMarshal(m)
			w.Header().Set("Content-Type", string(m.MediaType))
			w.Write(b)
			return true
		}
		if strings.HasSuffix(r.URL.Path, cfgDigest) {
			t.Errorf("config fetched: %s", r.URL.Path)
		}
		return false
	})
	s := newService(t, t.TempDir(), tr)
	if _, err := s.Pull(context.Background(), "registry.test/bigcfg:1", Auth{}); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "config") {
		t.Fatalf("pull with a 64 MiB config: %v", err)
	}
}

// TestImportManifestTooLarge: an archive whose manifest.json is over the bound is refused.
func TestImportManifestTooLarge(t *testing.T) {
	var buf bytes.Buffer
	tw := tarWriter(&buf)
	writeTarFile(t, tw, "manifest.json", append(append([]byte("["), bytes.Repeat([]byte(" "), 5<<20)...), ']'))
	tw.Close()
	s := newService(t, t.TempDir(), newRegistry(t))
	if _, err := s.Import(context.Background(), &buf, nil); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "allowed") {
		t.Fatalf("import of a 5 MiB manifest.json: %v", err)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func tarWriter(w io.Writer) *tar.Writer { return tar.NewWriter(w) }
