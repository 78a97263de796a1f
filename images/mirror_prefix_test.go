package images

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A mirror configured with a path is reached under that path for every request, the way
// containerd treats a hosts.toml host URL with a path: /v2/... becomes /<prefix>/v2/....
func TestPullThroughPrefixedMirror(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.Path, "/cache/docker")
		if !ok || !strings.HasPrefix(rest, "/v2") {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath, r2.RequestURI = rest, "", ""
		reg.ServeHTTP(w, r2)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	// Push straight into the registry behind the prefix.
	tr := &testRegistry{gets: map[string]int{}}
	direct := httptest.NewServer(reg)
	t.Cleanup(direct.Close)
	tr.host = strings.TrimPrefix(direct.URL, "http://")
	img := mkImage(t, "amd64", v1.Config{Cmd: []string{"/p"}}, mkLayer(t, compression.GZip, tent{name: "p", body: "p"}))
	tr.push(t, "lib/app:v1", img)

	s := newServiceWith(t, t.TempDir(), tr, func(cfg *Config) {
		cfg.Registries["registry.test"] = RegistryConfig{Mirrors: []string{"http://" + host + "/cache/docker/"}}
	})
	got, err := s.Pull(context.Background(), "registry.test/lib/app:v1", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if cd, _ := img.ConfigName(); got.ID != cd.String() {
		t.Fatalf("pulled %s, want %s", got.ID, cd)
	}
	mu.Lock()
	defer mu.Unlock()
	var manifests, blobs int
	for _, p := range seen {
		if !strings.HasPrefix(p, "/cache/docker/v2/") {
			t.Errorf("request without the prefix: %s", p)
		}
		manifests += strings.Count(p, "/manifests/")
		blobs += strings.Count(p, "/blobs/")
	}
	if manifests == 0 || blobs == 0 {
		t.Fatalf("mirror saw no manifest or blob request: %v", seen)
	}
}

func TestParseMirrorPrefix(t *testing.T) {
	for in, want := range map[string]mirror{
		"http://127.0.0.1:5000":         {host: "127.0.0.1:5000", plainHTTP: true},
		"https://m.example/":            {host: "m.example"},
		"https://m.example/cache/hub/":  {host: "m.example", prefix: "/cache/hub"},
		"m.example:8443/proxy":          {host: "m.example:8443", prefix: "/proxy"},
		"http://10.0.0.1/a/b-c_d.e~f/g": {host: "10.0.0.1", plainHTTP: true, prefix: "/a/b-c_d.e~f/g"},
	} {
		got, err := parseMirror(in)
		if err != nil || got != want {
			t.Errorf("parseMirror(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://m/a/../b", "http://m//a", "http://m/a?x=1", "http://m/a#f", "http://u:p@m/a", "http://m/a%2Fb", "http://m/a b"} {
		if _, err := parseMirror(bad); err == nil {
			t.Errorf("parseMirror(%q) accepted", bad)
		}
	}
}

type recordRT struct{ got []string }

func (r *recordRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req.URL.String())
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// Only registry API paths on the mirror's own host get the prefix: a token realm (same host,
// another path, or another host) and other hosts are left as the servers gave them.
func TestMirrorPrefixRewritesOnlyAPIPaths(t *testing.T) {
	rec := &recordRT{}
	rt := mirrorPrefix{base: rec, host: "m.example", prefix: "/cache/hub"}
	for _, u := range []string{"https://m.example/v2/", "https://m.example/v2", "https://m.example/v2/lib/a/manifests/1",
		"https://m.example/token?scope=x", "https://m.example/v2x", "https://auth.example/v2/token", "https://m.example/cache/hub/v2/lib/a/blobs/sha256:1"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if req.URL.String() != u {
			t.Fatalf("caller's request changed: %s", req.URL)
		}
	}
	want := []string{"https://m.example/cache/hub/v2/", "https://m.example/cache/hub/v2", "https://m.example/cache/hub/v2/lib/a/manifests/1",
		"https://m.example/token?scope=x", "https://m.example/v2x", "https://auth.example/v2/token", "https://m.example/cache/hub/v2/lib/a/blobs/sha256:1"}
	if strings.Join(rec.got, " ") != strings.Join(want, " ") {
		t.Fatalf("sent %v\nwant %v", rec.got, want)
	}
}
