package images

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fakeInputs returns inputs made of small stand-ins: a "busybox" script that lists three
// applets, and helper files.
func fakeInputs(t *testing.T) Inputs {
	t.Helper()
	dir := t.TempDir()
	bb := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bb, []byte("#!/bin/sh\nprintf '[\\nbusybox\\nls\\nsh\\n'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	helpers := filepath.Join(dir, "helpers")
	if err := os.Mkdir(helpers, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"pause", "nginx", "httpd", "nonewprivs"} {
		if err := os.WriteFile(filepath.Join(helpers, h), []byte(h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Inputs{Busybox: bb, HelperDir: helpers}
}

func TestLayerOrderAndModes(t *testing.T) {
	l, err := newLayer([]entry{
		hardLink("bin/[", "bin/busybox", 0o755),
		file("bin/busybox", 0o755, []byte("bb")),
		dir("bin", 0o755),
		file("usr/local/bin/nnp", 0o4755, []byte("x")),
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v", hdr.Name, hdr.ModTime)
		}
		if hdr.Typeflag == tar.TypeLink && hdr.Mode != 0o755 {
			t.Errorf("hard link %s has mode %o, want the target's 755", hdr.Name, hdr.Mode)
		}
		if hdr.Name == "usr/local/bin/nnp" && hdr.Mode != 0o4755 {
			t.Errorf("nnp mode %o, want 4755", hdr.Mode)
		}
	}
	want := []string{"bin/", "bin/busybox", "usr/local/bin/nnp", "bin/["}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %q, want %q", names, want)
		}
	}
}

func TestCatalogIsDeterministic(t *testing.T) {
	in := fakeInputs(t)
	digests := func() map[string]v1.Hash {
		repos, err := Catalog(in)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]v1.Hash{}
		for _, r := range repos {
			for tag, idx := range r.Tags {
				d, err := idx.Digest()
				if err != nil {
					t.Fatal(err)
				}
				m[r.Reference(tag)] = d
			}
		}
		return m
	}
	a, b := digests(), digests()
	if len(a) != 31 {
		t.Errorf("%d references, want 31", len(a))
	}
	for ref, d := range a {
		if b[ref] != d {
			t.Errorf("%s: digest %s then %s", ref, d, b[ref])
		}
	}
	if a["registry.k8s.io/e2e-test-images/busybox:1.29"] != a["registry.k8s.io/e2e-test-images/busybox:1.29-2"] {
		t.Error("busybox tags differ")
	}
	if a["gcr.io/k8s-staging-cri-tools/test-image-tag:test"] == a["gcr.io/k8s-staging-cri-tools/test-image-tag:all"] {
		t.Error("test-image-tag:test and :all must be different images")
	}
}

func TestServe(t *testing.T) {
	repos, err := Catalog(fakeInputs(t))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := Serve(context.Background(), "127.0.0.1:0", repos, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	for path, wantUser := range map[string]string{
		"pause:3.10":                     "65535:65535",
		"e2e-test-images/nonewprivs:1.3": "1000",
		"k8s-staging-cri-tools/test-image-user-username-group:latest": "www-data:1004",
		"k8s-staging-cri-tools/test-image-predefined-group:latest":    "1000",
	} {
		ref, err := name.ParseReference(reg.Addr+"/"+path, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		// A client on linux/amd64-like platforms resolves the index to its one image.
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goarch()}))
		if err != nil {
			t.Fatalf("pull %s: %v", path, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != wantUser {
			t.Errorf("%s: user %q, want %q", path, cf.Config.User, wantUser)
		}
	}
	httpdRef, _ := name.ParseReference(reg.Addr+"/e2e-test-images/httpd:2.4.39-4", name.Insecure)
	img, err := remote.Image(httpdRef, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goarch()}))
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Config.StopSignal != "SIGWINCH" {
		t.Errorf("httpd stop signal: %v, %v", cf, err)
	}
}

func goarch() string { return runtime.GOARCH }
