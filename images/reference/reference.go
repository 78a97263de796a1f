// Package reference parses image references and normalizes them the way containerd and the
// docker CLI do: "busybox" is docker.io/library/busybox:latest.
package reference

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/crishim/crishim/internal/errdefs"
)

// pathComponent is the distribution spec's grammar for one repository path component.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// DockerHub is the canonical registry name of Docker Hub in normalized references.
const DockerHub = "docker.io"

// Ref is a parsed, normalized image reference. Exactly one of Tag or Digest is set; a reference
// that carries both keeps only the digest (the digest is what gets pulled).
type Ref struct {
	// Registry is the registry host, "docker.io" for Docker Hub.
	Registry string
	// Repository is the repository path inside the registry ("library/busybox").
	Repository string
	// Tag is the tag, "latest" when the reference names neither a tag nor a digest.
	Tag string
	// Digest is the manifest digest ("sha256:…") of a digest reference.
	Digest string
}

// Parse parses and normalizes s. A malformed reference is an errdefs.ErrInvalidArgument error
// that names it.
func Parse(s string) (Ref, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, errdefs.ErrInvalidArgument)
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w: %v", s, errdefs.ErrInvalidArgument, err)
	}
	out := Ref{Registry: r.Context().RegistryStr(), Repository: r.Context().RepositoryStr()}
	for _, c := range strings.Split(out.Repository, "/") {
		if !pathComponent.MatchString(c) {
			return Ref{}, fmt.Errorf("image reference %q: %w: bad repository component %q", s, errdefs.ErrInvalidArgument, c)
		}
	}
	if out.Registry == name.DefaultRegistry {
		out.Registry = DockerHub
	}
	switch v := r.(type) {
	case name.Digest:
		out.Digest = v.DigestStr()
	case name.Tag:
		out.Tag = v.TagStr()
	}
	return out, nil
}

// Name is registry/repository, the part of a reference that names a repository.
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String is the canonical form: registry/repository:tag or registry/repository@digest.
func (r Ref) String() string {
	if r.Digest != "" {
		return r.Name() + "@" + r.Digest
	}
	return r.Name() + ":" + r.Tag
}

// IsDigest reports whether the reference names a manifest by digest.
func (r Ref) IsDigest() bool { return r.Digest != "" }

// WithDigest returns the digest reference of the same repository.
func (r Ref) WithDigest(d string) Ref {
	return Ref{Registry: r.Registry, Repository: r.Repository, Digest: d}
}

// OnRegistry returns a go-containerregistry reference to the same repository and tag or
// digest on another registry host (a mirror); insecure allows plain HTTP.
func (r Ref) OnRegistry(host string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	s := host + "/" + r.Repository
	if r.Digest != "" {
		return name.NewDigest(s+"@"+r.Digest, opts...)
	}
	return name.NewTag(s+":"+r.Tag, opts...)
}
