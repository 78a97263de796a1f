package images

import (
	"fmt"
	"net/url"
	"time"

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
	Registries map[string]RegistryConfig `toml:"registries" comment:"Per registry or mirror host: mirrors = [\"http://127.0.0.1:5000\"] (tried in order, then the registry), insecure_skip_verify, username/password/identity_token (sent to this host only, never over plain HTTP; a mirror's go under its own host)."`
}

// RegistryConfig configures access to one registry host.
type RegistryConfig struct {
	// Mirrors are tried in order before the registry itself: "http://host:port" for plain
	// HTTP, "https://host" or a bare host for TLS. Paths are not supported.
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
			mhost, plain, err := parseMirror(m)
			if err != nil {
				return fmt.Errorf("images.registries.%q.mirrors: %w", host, err)
			}
			if plain && !configAuth(c.Registries[mhost]).empty() {
				return fmt.Errorf("images.registries.%q.mirrors: %q is plain HTTP but images.registries.%q has credentials: credentials are never sent over plain HTTP, use https://: %w",
					host, m, mhost, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// parseMirror returns the host of a mirror and whether it is plain HTTP.
func parseMirror(m string) (host string, plainHTTP bool, err error) {
	u, err := url.Parse(m)
	if err != nil || u.Scheme == "" {
		u, err = url.Parse("https://" + m)
	}
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("mirror %q: want scheme://host[:port]: %w", m, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "http":
		return u.Host, true, nil
	case "https":
		return u.Host, false, nil
	}
	return "", false, fmt.Errorf("mirror %q: scheme %q: %w", m, u.Scheme, errdefs.ErrInvalidArgument)
}
