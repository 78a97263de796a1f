package images

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/internal/errdefs"
)

// errCredentialsOverHTTP marks a pull refused because credentials would travel in clear text:
// a configuration problem, so the pull stops instead of trying the next endpoint.
var errCredentialsOverHTTP = errors.New("credentials would be sent over plain HTTP")

// endpointAuth picks the credentials for one endpoint. Credentials belong to a host: the
// request's (kubelet's pull secret for the image's registry) and the registry's configured ones
// go only to the registry itself; a mirror gets the credentials configured under its own host
// and nothing else. Credentials for an endpoint reached over plain HTTP are an error.
func (s *Service) endpointAuth(r reference.Ref, ep endpoint, a Auth) (authn.Authenticator, error) {
	if ep.mirror {
		a = configAuth(s.cfg.Registries[ep.host])
	} else if a.empty() {
		a = configAuth(s.registryConfig(r.Registry))
	}
	if a.empty() {
		return authn.Anonymous, nil
	}
	if ep.plainHTTP {
		return nil, fmt.Errorf("mirror http://%s has credentials configured: %w: use https:// for it (%w)",
			ep.host, errCredentialsOverHTTP, errdefs.ErrFailedPrecondition)
	}
	return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}), nil
}

func configAuth(rc RegistryConfig) Auth {
	return Auth{Username: rc.Username, Password: rc.Password, IdentityToken: rc.IdentityToken}
}

// plainHTTPGuard enforces the plain-HTTP policy under the registry client, whatever it
// decides on its own (go-containerregistry falls back to http:// for private-range addresses):
// plain HTTP only to loopback and to the endpoint when it is a mirror configured as http://,
// and never with an Authorization header (token exchanges with an auth realm included).
type plainHTTPGuard struct {
	base     http.RoundTripper
	endpoint endpoint
}

// RoundTrip implements http.RoundTripper.
func (g plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		host := req.URL.Host
		if req.Header.Get("Authorization") != "" {
			return nil, fmt.Errorf("refusing to send credentials to %s over plain HTTP: %w (%w)",
				host, errCredentialsOverHTTP, errdefs.ErrFailedPrecondition)
		}
		if !(g.endpoint.plainHTTP && host == g.endpoint.host) && !isLoopback(host) {
			return nil, fmt.Errorf("plain HTTP to %s refused: only loopback registries and mirrors configured as http:// are reached without TLS: %w",
				host, errdefs.ErrFailedPrecondition)
		}
	}
	return g.base.RoundTrip(req)
}

// isLoopback reports whether host[:port] names this machine.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
