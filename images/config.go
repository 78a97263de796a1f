package images

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/internal/config"
	"github.com/crishim/crishim/internal/errdefs"
)

// Config is the [images] section of the daemon configuration.
type Config struct {
	// MaxConcurrentDownloads bounds parallel layer downloads per pull.
	MaxConcurrentDownloads int `toml:"max_concurrent_downloads" comment:"Parallel layer downloads per pull."`
	// StallTimeout cancels a pull that has received no byte for this long.
	StallTimeout config.Duration `toml:"stall_timeout" comment:"Cancel a pull that received nothing for this long."`
	// Registries holds per-host settings keyed by registry or mirror host ("registry.k8s.io",
	// "docker.io", "mirror.internal:5000"). Credentials belong to their host: a mirror's are
	// configured under the mirror's own host.
	Registries map[string]RegistryConfig `toml:"registries" comment:"Per registry or mirror host: mirrors = [\"http://127.0.0.1:5000\", \"https://cache.example/hub\"] (tried in order, then the registry; a path goes before /v2), insecure_skip_verify, username/password/identity_token (sent to this host only, never over plain HTTP; a mirror's go under its own host)."`
	// Pinned are image references (normalized like any other: "pause:3.10" is
	// docker.io/library/pause:3.10) whose images are reported pinned, so kubelet's image GC
	// keeps them. A tag or digest reference matches an image with that repo tag or digest.
	Pinned []string `toml:"pinned" comment:"Images reported pinned: true to kubelet, whose image GC then keeps them, e.g. [\"registry.k8s.io/pause:3.10\"]."`
}

// RegistryConfig configures access to one registry host.
type RegistryConfig struct {
	// Mirrors are tried in order before the registry itself: "http://host:port" for plain
	// HTTP, "https://host" or a bare host for TLS. A path ("https://host/cache/hub") goes
	// before every registry API path: /v2/... is requested as /cache/hub/v2/....
	Mirrors []string `toml:"mirrors"`
	// InsecureSkipVerify disables TLS certificate verification for the registry and mirrors.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// Username is a static credential of this host, used when a pull request carries none
	// (a mirror never gets the request's credentials, only the ones under its own host).
	Username string `toml:"username"`
	// Password goes with Username.
	Password string `toml:"password"`
	// IdentityToken is a static refresh token, used when a pull request carries none.
	IdentityToken string `toml:"identity_token"`
}

// DefaultConfig returns the defaults: 3 parallel downloads, a 5 minute stall timeout and no
// registry settings.
func DefaultConfig() Config {
	return Config{
		MaxConcurrentDownloads: 3,
		StallTimeout:           config.Duration(5 * time.Minute),
		Registries:             map[string]RegistryConfig{},
		Pinned:                 []string{},
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	if c.MaxConcurrentDownloads < 1 || c.MaxConcurrentDownloads > 64 {
		return fmt.Errorf("images.max_concurrent_downloads %d: must be 1..64: %w", c.MaxConcurrentDownloads, errdefs.ErrInvalidArgument)
	}
	if c.StallTimeout.D() < time.Second {
		return fmt.Errorf("images.stall_timeout %s: must be at least 1s: %w", c.StallTimeout.D(), errdefs.ErrInvalidArgument)
	}
	for host, r := range c.Registries {
		if host == "" {
			return fmt.Errorf("images.registries: empty registry name: %w", errdefs.ErrInvalidArgument)
		}
		for _, m := range r.Mirrors {
			mi, err := parseMirror(m)
			if err != nil {
				return fmt.Errorf("images.registries.%q.mirrors: %w", host, err)
			}
			if mi.plainHTTP && !configAuth(c.Registries[mi.host]).empty() {
				return fmt.Errorf("images.registries.%q.mirrors: %q is plain HTTP but images.registries.%q has credentials: credentials are never sent over plain HTTP, use https://: %w",
					host, m, mi.host, errdefs.ErrInvalidArgument)
			}
		}
	}
	for i, p := range c.Pinned {
		if _, err := reference.Parse(p); err != nil {
			return fmt.Errorf("images.pinned[%d]: %w", i, err)
		}
	}
	return nil
}

// mirror is a parsed mirror entry.
type mirror struct {
	host      string
	plainHTTP bool
	// prefix is "" or a clean path ("/cache/hub") put before every registry API path.
	prefix string
}

// prefixSegment is what a path segment of a mirror may hold: unreserved URL characters, so
// the prefix needs no escaping and cannot climb out of itself.
var prefixSegment = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// parseMirror parses a mirror entry: its host, whether it is plain HTTP and its path prefix.
func parseMirror(m string) (mirror, error) {
	bad := fmt.Errorf("mirror %q: want scheme://host[:port][/path]: %w", m, errdefs.ErrInvalidArgument)
	u, err := url.Parse(m)
	if err != nil || u.Scheme == "" || u.Host == "" {
		u, err = url.Parse("https://" + m)
	}
	if err != nil || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || u.RawPath != "" || u.Opaque != "" {
		return mirror{}, bad
	}
	out := mirror{host: u.Host}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p[1:], "/") {
			if !prefixSegment.MatchString(seg) || seg == "." || seg == ".." {
				return mirror{}, fmt.Errorf("mirror %q: path segment %q: %w", m, seg, errdefs.ErrInvalidArgument)
			}
		}
		out.prefix = p
	}
	switch u.Scheme {
	case "http":
		out.plainHTTP = true
		return out, nil
	case "https":
		return out, nil
	}
	return mirror{}, fmt.Errorf("mirror %q: scheme %q: %w", m, u.Scheme, errdefs.ErrInvalidArgument)
}
