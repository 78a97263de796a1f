package images

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// authMirror is an in-process registry that records every Authorization header it receives
// and, when user is set, demands Basic credentials user:pass (401 with a Basic challenge).
type authMirror struct {
	host string
	mu   sync.Mutex
	seen []string // Authorization headers, "" for requests without one
}

func newAuthMirror(t *testing.T, useTLS bool, user, pass string) *authMirror {
	m := &authMirror{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		m.mu.Lock()
		m.seen = append(m.seen, got)
		m.mu.Unlock()
		if user != "" && got != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="mirror"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	m.host = srv.Listener.Addr().String()
	// Push through a second, open front end of the same registry.
	push := httptest.NewServer(reg)
	t.Cleanup(push.Close)
	img := mkImage(t, goruntime.GOARCH, v1.Config{Cmd: []string{"/app"}}, mkLayer(t, compression.GZip, tent{name: "app", body: "app", mode: 0o755}))
	ref, err := name.ParseReference(strings.TrimPrefix(push.URL, "http://") + "/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *authMirror) headers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// The request's credentials and the configured ones of registry A belong to A: pulled through
// mirror M, only M's own configured credentials reach M.
func TestPullMirrorGetsOnlyItsOwnCredentials(t *testing.T) {
	m := newAuthMirror(t, true, "muser", "mpass")
	s := newService(t, t.TempDir(), newRegistry(t))
	s.cfg.Registries["registry-a.test"] = RegistryConfig{Mirrors: []string{"https://" + m.host},
		InsecureSkipVerify: true, Username: "cfguser", Password: "cfgpass"}
	s.cfg.Registries[m.host] = RegistryConfig{Username: "muser", Password: "mpass", InsecureSkipVerify: true}
	_, err := s.Pull(context.Background(), "registry-a.test/app:1", Auth{Username: "auser", Password: "apass"})
	seen := m.headers()
	for _, h := range seen {
		if h == basic("auser", "apass") || h == basic("cfguser", "cfgpass") {
			t.Fatalf("registry-a.test's credentials reached the mirror: %q", seen)
		}
	}
	if err != nil {
		t.Fatalf("pull through the mirror with its own credentials: %v", err)
	}
	if !contains(seen, basic("muser", "mpass")) {
		t.Fatalf("the mirror never got its own credentials: %q", seen)
	}
}

// Credentials are never sent over plain HTTP: an http:// mirror that has credentials fails
// the pull with an error naming it, and no request carries them.
func TestPullPlainHTTPMirrorWithCredentialsRefused(t *testing.T) {
	m := newAuthMirror(t, false, "muser", "mpass")
	s := newService(t, t.TempDir(), newRegistry(t))
	s.cfg.Registries["registry-a.test"] = RegistryConfig{Mirrors: []string{"http://" + m.host}}
	s.cfg.Registries[m.host] = RegistryConfig{Username: "muser", Password: "mpass"}
	_, err := s.Pull(context.Background(), "registry-a.test/app:1", Auth{})
	for _, h := range m.headers() {
		if h != "" {
			t.Fatalf("credentials sent over plain HTTP: %q", h)
		}
	}
	if err == nil || !strings.Contains(err.Error(), m.host) || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("err = %v, want a plain-HTTP credentials error naming %s", err, m.host)
	}
}

// Request credentials for a loopback registry reached over plain HTTP are not sent either.
func TestPullRequestAuthNotSentOverPlainHTTP(t *testing.T) {
	m := newAuthMirror(t, false, "auser", "apass")
	s := newService(t, t.TempDir(), newRegistry(t))
	_, err := s.Pull(context.Background(), m.host+"/app:1", Auth{Username: "auser", Password: "apass"})
	for _, h := range m.headers() {
		if h != "" {
			t.Fatalf("credentials sent over plain HTTP: %q", h)
		}
	}
	if err == nil || !strings.Contains(err.Error(), m.host) || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("err = %v, want a plain-HTTP credentials error naming %s", err, m.host)
	}
}

// recordingTransport answers nothing; it records the URLs it was asked for.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return nil, errors.New("test transport: no network")
}

// A private-range registry is not a reason for plain HTTP: only TLS is tried unless it is a
// mirror configured as http://.
func TestPullPrivateRangeOriginNotOverPlainHTTP(t *testing.T) {
	s := newService(t, filepath.Join(t.TempDir(), "root"), newRegistry(t))
	rec := &recordingTransport{}
	s.transports["false"] = rec
	if _, err := s.Pull(context.Background(), "10.255.0.1:5000/app:1", Auth{}); err == nil {
		t.Fatal("pull without a network succeeded")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	https := false
	for _, u := range rec.urls {
		if strings.HasPrefix(u, "http://") {
			t.Fatalf("private-range registry contacted over plain HTTP: %v", rec.urls)
		}
		https = https || strings.HasPrefix(u, "https://10.255.0.1:5000/")
	}
	if !https {
		t.Fatalf("the registry was not tried over TLS: %v", rec.urls)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
