package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestPullResolveRemove(t *testing.T) {
	tr := newRegistry(t)
	base := mkLayer(t, compression.GZip, tent{name: "etc/", typ: '5'}, tent{name: "etc/os", body: "test"})
	top := mkLayer(t, compression.ZStd, tent{name: "app", body: "app", mode: 0o755})
	img := mkImage(t, "amd64", v1.Config{User: "1000:1000", Env: []string{"A=1"}, Cmd: []string{"/app"},
		StopSignal: "SIGWINCH", ExposedPorts: map[string]struct{}{"80/tcp": {}}}, base, top)
	tr.push(t, "app:v1", img)
	root := t.TempDir()
	s := newService(t, root, tr)
	ctx := context.Background()

	got, err := s.Pull(ctx, "registry.test/app:v1", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := img.ConfigName()
	md, _ := img.Digest()
	if got.ID != cd.String() || got.RepoTags[0] != "registry.test/app:v1" || got.RepoDigests[0] != "registry.test/app@"+md.String() {
		t.Fatalf("image = %+v", got)
	}
	if got.Config.User != "1000:1000" || got.Config.StopSignal != "SIGWINCH" || got.Config.ExposedPorts[0] != "80/tcp" || got.Size == 0 {
		t.Fatalf("config = %+v", got.Config)
	}
	for _, ref := range []string{got.ID, strings.TrimPrefix(got.ID, "sha256:"), got.ID[7:19], "registry.test/app:v1", got.RepoDigests[0]} {
		if r, err := s.Resolve(ref); err != nil || r.ID != got.ID {
			t.Errorf("Resolve(%q) = %v %v", ref, r.ID, err)
		}
	}
	if _, err := s.Resolve("registry.test/app:v2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown tag: %v", err)
	}
	// A second pull finds everything local: no blob is downloaded again.
	before := tr.blobGets(digestOf(t, top))
	if _, err := s.Pull(ctx, "registry.test/app:v1", Auth{}); err != nil {
		t.Fatal(err)
	}
	if tr.blobGets(digestOf(t, top)) != before {
		t.Error("layer downloaded twice")
	}
	// Restart: the record survives.
	s2 := newService(t, root, tr)
	if l := s2.List(); len(l) != 1 || l[0].ID != got.ID {
		t.Fatalf("after restart: %+v", l)
	}
	if err := s2.Remove("registry.test/app:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Remove("registry.test/app:v1"); err != nil {
		t.Fatal("second remove:", err)
	}
	if l := s2.List(); len(l) != 0 {
		t.Fatalf("after remove: %+v", l)
	}
	for _, d := range []string{"blobs/sha256", "snapshots", "usage", "chains", "records"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s not collected: %v", d, ents)
		}
	}
}

func TestPullIndexSelectsHostPlatform(t *testing.T) {
	tr := newRegistry(t)
	amd := mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.GZip, tent{name: "arch", body: "amd64"}))
	arm := mkImage(t, "arm64", v1.Config{}, mkLayer(t, compression.GZip, tent{name: "arch", body: "arm64"}))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	tr.pushIndex(t, "multi:1", idx)
	s := newService(t, t.TempDir(), tr)
	got, err := s.Pull(context.Background(), "registry.test/multi:1", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := map[string]v1.Image{"amd64": amd, "arm64": arm}[hostPlatform().Architecture].ConfigName()
	id, _ := idx.Digest()
	if got.ID != want.String() || got.RepoDigests[0] != "registry.test/multi@"+id.String() {
		t.Fatalf("got %+v, want id %s", got, want)
	}
	// By digest too.
	if _, err := s.Pull(context.Background(), "registry.test/multi@"+id.String(), Auth{}); err != nil {
		t.Fatal(err)
	}
}

func TestPullErrors(t *testing.T) {
	tr := newRegistry(t)
	tr.push(t, "ok:1", mkImage(t, "amd64", v1.Config{}, mkLayer(t, compression.GZip, tent{name: "f", body: "f"})))
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/v2/private/") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	s := newService(t, t.TempDir(), tr)
	ctx := context.Background()
	cases := []struct {
		ref  string
		kind error
		say  string
	}{
		{"registry.test/missing:1", errdefs.ErrNotFound, "not found"},
		{"registry.test/ok:2", errdefs.ErrNotFound, "not found"},
		{"registry.test/private/x:1", errdefs.ErrUnauthenticated, "unauthorized"},
		{"Not A Reference", errdefs.ErrInvalidArgument, "Not A Reference"},
	}
	for _, c := range cases {
		_, err := s.Pull(ctx, c.ref, Auth{})
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.say) {
			t.Errorf("Pull(%q) = %v, want %v saying %q", c.ref, err, c.kind, c.say)
		}
	}
}

func TestPullDigestMismatchKeepsNothing(t *testing.T) {
	tr := newRegistry(t)
	l := mkLayer(t, compression.GZip, tent{name: "f", body: "good"})
	tr.push(t, "bad:1", mkImage(t, "amd64", v1.Config{}, l))
	ld := digestOf(t, l)
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+ld) && r.Method == http.MethodGet {
			w.Write([]byte("corrupted content of a different size"))
			return true
		}
		return false
	})
	root := t.TempDir()
	s := newService(t, root, tr)
	if _, err := s.Pull(context.Background(), "registry.test/bad:1", Auth{}); err == nil {
		t.Fatal("corrupted layer accepted")
	}
	if s.content.Has(ld) {
		t.Fatal("corrupted blob kept")
	}
	for _, d := range []string{"ingest", "staging", "chains"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s not empty: %v", d, ents)
		}
	}
	tr.setHook(nil)
	if _, err := s.Pull(context.Background(), "registry.test/bad:1", Auth{}); err != nil {
		t.Fatal("pull after the registry was fixed:", err)
	}
}

func TestPullDedup(t *testing.T) {
	tr := newRegistry(t)
	shared := mkLayer(t, compression.GZip, tent{name: "shared", body: strings.Repeat("x", 1<<20)})
	tr.push(t, "a:1", mkImage(t, "amd64", v1.Config{}, shared, mkLayer(t, compression.GZip, tent{name: "a", body: "a"})))
	tr.push(t, "b:1", mkImage(t, "amd64", v1.Config{}, shared, mkLayer(t, compression.GZip, tent{name: "b", body: "b"})))
	release := make(chan struct{})
	sd := digestOf(t, shared)
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+sd) && r.Method == http.MethodGet {
			<-release // hold the shared blob until every pull asked for it
		}
		return false
	})
	s := newService(t, t.TempDir(), tr)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for _, ref := range []string{"a:1", "a:1", "a:1", "b:1", "b:1", "b:1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Pull(context.Background(), "registry.test/"+ref, Auth{})
			errs <- err
		}()
	}
	for tr.blobGets(sd) == 0 {
		// the first download reached the registry
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.blobGets(sd); n != 1 {
		t.Fatalf("shared blob downloaded %d times", n)
	}
	if len(s.List()) != 2 {
		t.Fatalf("images: %+v", s.List())
	}
}

func TestPullStall(t *testing.T) {
	tr := newRegistry(t)
	l := mkLayer(t, compression.GZip, tent{name: "f", body: "f"})
	tr.push(t, "slow:1", mkImage(t, "amd64", v1.Config{}, l))
	ld := digestOf(t, l)
	done := make(chan struct{})
	defer close(done)
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+ld) && r.Method == http.MethodGet {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return true
		}
		return false
	})
	s := newService(t, t.TempDir(), tr)
	_, err := s.Pull(context.Background(), "registry.test/slow:1", Auth{})
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "no progress") {
		t.Fatalf("stalled pull: %v", err)
	}
}

func TestSelectManifest(t *testing.T) {
	d := func(os, arch, variant string) v1.Descriptor {
		return v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	idx := &v1.IndexManifest{Manifests: []v1.Descriptor{
		d("unknown", "unknown", ""), d("linux", "arm", "v6"), d("linux", "arm", "v7"), d("linux", "arm64", ""),
		d("windows", "amd64", ""), d("linux", "amd64", ""),
	}}
	cases := []struct {
		p    v1.Platform
		want int
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, 5},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 2},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 3},
		{v1.Platform{OS: "windows", Architecture: "amd64"}, 4},
	}
	for _, c := range cases {
		p, want := c.p, c.want
		got, err := selectManifest(idx, p)
		if err != nil || got.Platform != idx.Manifests[want].Platform {
			t.Errorf("%v: got %v %v, want #%d", p, got.Platform, err, want)
		}
	}
	if _, err := selectManifest(idx, v1.Platform{OS: "linux", Architecture: "s390x"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("no match: %v", err)
	}
}

func TestChainIDs(t *testing.T) {
	// DiffIDs from the OCI image spec's config example (config.md, rootfs.diff_ids); the chain
	// IDs were computed outside Go as sha256("<ChainID(n-1)> <DiffID(n)>") (printf | sha256sum).
	const (
		d0 = "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1"
		d1 = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
	)
	got := chainIDs([]string{d0, d1, d0})
	want := []string{
		d0,
		"sha256:c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f",
		"sha256:ce60e381e7c2941cc3c11bc7a60b267bb56a3be80df231da8c523c53af72518b",
	}
	if len(got) != len(want) {
		t.Fatalf("chain ids %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("chain id %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// TestPullSharedSlowBlob: a pull waiting on a blob another pull is downloading slowly (but
// steadily) must not hit its stall timeout (3s here) although it receives no byte itself.
func TestPullSharedSlowBlob(t *testing.T) {
	tr := newRegistry(t)
	shared := mkLayer(t, compression.GZip, tent{name: "s", body: strings.Repeat("slow", 4096)})
	tr.push(t, "a:1", mkImage(t, "amd64", v1.Config{}, shared, mkLayer(t, compression.GZip, tent{name: "a", body: "a"})))
	tr.push(t, "b:1", mkImage(t, "amd64", v1.Config{}, shared, mkLayer(t, compression.GZip, tent{name: "b", body: "b"})))
	rc, _ := shared.Compressed()
	blob, _ := io.ReadAll(rc)
	sd := digestOf(t, shared)
	first := make(chan struct{})
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+sd) || r.Method != http.MethodGet {
			return false
		}
		close(first)
		w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
		chunk := len(blob)/20 + 1
		for off := 0; off < len(blob); off += chunk {
			w.Write(blob[off:min(off+chunk, len(blob))])
			w.(http.Flusher).Flush()
			time.Sleep(250 * time.Millisecond) // 20 chunks: ~5s in all, longer than the stall timeout
		}
		return true
	})
	s := newService(t, t.TempDir(), tr)
	errc := make(chan error, 2)
	go func() { _, err := s.Pull(context.Background(), "registry.test/a:1", Auth{}); errc <- err }()
	<-first
	go func() { _, err := s.Pull(context.Background(), "registry.test/b:1", Auth{}); errc <- err }()
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.blobGets(sd); n != 1 {
		t.Fatalf("shared blob downloaded %d times", n)
	}
}

// TestPullSharedLayers: a second image sharing its first 4 layers with a pulled one fetches
// and applies only its fifth.
func TestPullSharedLayers(t *testing.T) {
	tr := newRegistry(t)
	var base []v1.Layer
	for i := 0; i < 4; i++ {
		base = append(base, mkLayer(t, compression.GZip, tent{name: fmt.Sprintf("l%d", i), body: "x"}))
	}
	a5 := mkLayer(t, compression.GZip, tent{name: "a", body: "a"})
	b5 := mkLayer(t, compression.GZip, tent{name: "b", body: "b"})
	tr.push(t, "a:1", mkImage(t, "amd64", v1.Config{}, append(append([]v1.Layer{}, base...), a5)...))
	tr.push(t, "b:1", mkImage(t, "amd64", v1.Config{}, append(append([]v1.Layer{}, base...), b5)...))
	root := t.TempDir()
	s := newService(t, root, tr)
	for _, ref := range []string{"registry.test/a:1", "registry.test/b:1"} {
		if _, err := s.Pull(context.Background(), ref, Auth{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range append(base, a5, b5) {
		if n := tr.blobGets(digestOf(t, l)); n != 1 {
			t.Errorf("layer %s fetched %d times", digestOf(t, l), n)
		}
	}
	if chains, _ := os.ReadDir(filepath.Join(root, "chains")); len(chains) != 6 {
		t.Errorf("%d snapshots, want 6 (4 shared + 2)", len(chains))
	}
}
