package images

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/internal/errdefs"
)

// endpoint is one place an image can be pulled from: a mirror or the registry itself.
type endpoint struct {
	host      string
	plainHTTP bool // a mirror configured as http://: plain HTTP allowed to this host
	mirror    bool
	prefix    string // a mirror's path ("/cache/hub"), put before every /v2 path on host
}

// endpoints lists the mirrors of the reference's registry in order, then the registry.
func (s *Service) endpoints(r reference.Ref) []endpoint {
	rc := s.registryConfig(r.Registry)
	var eps []endpoint
	for _, m := range rc.Mirrors {
		if mi, err := parseMirror(m); err == nil {
			eps = append(eps, endpoint{host: mi.host, plainHTTP: mi.plainHTTP, mirror: true, prefix: mi.prefix})
		}
	}
	host := r.Registry
	if host == reference.DockerHub {
		host = name.DefaultRegistry
	}
	return append(eps, endpoint{host: host})
}

func (s *Service) registryConfig(reg string) RegistryConfig {
	if rc, ok := s.cfg.Registries[reg]; ok {
		return rc
	}
	if reg == reference.DockerHub {
		return s.cfg.Registries[name.DefaultRegistry]
	}
	return RegistryConfig{}
}

// transport returns a shared HTTP transport (TLS verification on or off).
func (s *Service) transport(skipVerify bool) http.RoundTripper {
	key := fmt.Sprint(skipVerify)
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if t, ok := s.transports[key]; ok {
		return t
	}
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = 2 * time.Minute
	if skipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // configured by the operator
	}
	s.transports[key] = t
	return t
}

func (s *Service) puller(ctx context.Context, r reference.Ref, ep endpoint, a Auth) (*remote.Puller, error) {
	auth, err := s.endpointAuth(r, ep, a)
	if err != nil {
		return nil, err
	}
	// The registry's insecure_skip_verify covers its mirrors (as documented); a mirror's own
	// entry may also set it.
	skip := s.registryConfig(r.Registry).InsecureSkipVerify || (ep.mirror && s.cfg.Registries[ep.host].InsecureSkipVerify)
	var t http.RoundTripper = plainHTTPGuard{base: s.transport(skip), endpoint: ep}
	if ep.prefix != "" {
		t = mirrorPrefix{base: t, host: ep.host, prefix: ep.prefix}
	}
	return remote.NewPuller(remote.WithContext(ctx), remote.WithTransport(manifestLimit{t}),
		remote.WithAuth(auth), remote.WithUserAgent("crishim"))
}

// mirrorPrefix puts a mirror's path before the registry API paths go-containerregistry builds
// (it only knows hosts): /v2/... on the mirror's host becomes <prefix>/v2/..., as containerd
// does for a hosts.toml host URL with a path. Other URLs (a token realm, a redirect elsewhere)
// are left as the servers gave them.
type mirrorPrefix struct {
	base         http.RoundTripper
	host, prefix string
}

// RoundTrip implements http.RoundTripper.
func (m mirrorPrefix) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == m.host && (req.URL.Path == "/v2" || strings.HasPrefix(req.URL.Path, "/v2/")) {
		req = req.Clone(req.Context())
		req.URL.Path = m.prefix + req.URL.Path
		if req.URL.RawPath != "" {
			req.URL.RawPath = m.prefix + req.URL.RawPath
		}
	}
	return m.base.RoundTrip(req)
}

// classify turns a registry error into an error kind with the wording kubelet and users
// expect ("not found", "unauthorized").
func classify(ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("image %q: %w: %v", ref, errdefs.ErrNotFound, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return unauthorized(ref, err)
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("image %q: %w: %v", ref, errdefs.ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return unauthorized(ref, err)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			return fmt.Errorf("image %q: %w: %v", ref, errdefs.ErrUnavailable, err)
		}
	}
	if hasKind(err) {
		return fmt.Errorf("image %q: %w", ref, err)
	}
	if transient(err) {
		return fmt.Errorf("image %q: %w: %v", ref, errdefs.ErrUnavailable, err)
	}
	return fmt.Errorf("image %q: %w", ref, err)
}

func unauthorized(ref string, err error) error {
	return fmt.Errorf("image %q: %w: unauthorized: pull access denied, the repository does not exist or requires authorization: %v",
		ref, errdefs.ErrUnauthenticated, err)
}

// rank orders errors for reporting when every endpoint failed: a definite answer from a
// registry beats a network failure of another.
func rank(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return 3
	case errors.Is(err, errdefs.ErrNotFound):
		return 2
	case err != nil:
		return 1
	}
	return 0
}

// transient reports whether a failed transfer is worth retrying.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout
	}
	// Unknown hosts and refused connections are answers, not hiccups: move on to the next
	// endpoint instead of waiting for backoffs.
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retry runs fn up to 4 times with exponential backoff while it fails transiently.
func retry(ctx context.Context, fn func() error) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == 4 || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func hasKind(err error) bool {
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrUnauthenticated,
		errdefs.ErrResourceExhausted, errdefs.ErrUnavailable, errdefs.ErrDeadlineExceeded, errdefs.ErrNotImplemented,
		errdefs.ErrFailedPrecondition} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
