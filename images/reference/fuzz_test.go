package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

// FuzzParse feeds arbitrary strings to Parse. A rejected reference is an InvalidArgument error;
// an accepted one is normalized (exactly one of tag and digest, a registry, valid path
// components), and its canonical form parses back to the same Ref and names a repository on a
// mirror. The seeds run with a plain `go test`; fuzz with
//
//	go test -run XXX -fuzz FuzzParse ./images/reference/
func FuzzParse(f *testing.F) {
	const dg = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	for _, s := range []string{
		"busybox", "busybox:1.36", "docker.io/busybox", "index.docker.io/library/busybox:1",
		"registry.k8s.io/pause:3.10", "localhost:5000/a/b/c:v1", "busybox@" + dg, "busybox:1@" + dg,
		"[::1]:5000/x:y", "a..b", "A/b", "x@sha256:00", " busybox", "busybox\x00", "a/b/../c", "",
		"docker.io/library/busybox:" + strings.Repeat("t", 129), "127.0.0.1/a_b__c-d.e:v",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Parse(%q): error %v is not InvalidArgument", s, err)
			}
			return
		}
		if (r.Tag == "") == (r.Digest == "") {
			t.Fatalf("Parse(%q) = %+v: want exactly one of tag and digest", s, r)
		}
		if r.Registry == "" || r.Repository == "" {
			t.Fatalf("Parse(%q) = %+v: empty registry or repository", s, r)
		}
		for _, c := range strings.Split(r.Repository, "/") {
			if !pathComponent.MatchString(c) {
				t.Fatalf("Parse(%q) = %+v: bad component %q", s, r, c)
			}
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("Parse(%q) = %+v, canonical %q parses to %+v, %v", s, r, r.String(), again, err)
		}
		if r.IsDigest() != (r.Digest != "") || r.WithDigest(r.Digest).Digest != r.Digest {
			t.Fatalf("digest accessors disagree for %+v", r)
		}
		nr, err := r.OnRegistry("mirror.test:5000", true)
		if err != nil {
			t.Fatalf("%+v on a mirror: %v", r, err)
		}
		if nr.Context().RepositoryStr() != r.Repository {
			t.Fatalf("%+v on a mirror names repository %q", r, nr.Context().RepositoryStr())
		}
	})
}
