package reference

import (
	"errors"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestParse(t *testing.T) {
	const dg = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	cases := []struct{ in, want, name string }{
		{"busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io/library/busybox"},
		{"docker.io/busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox"},
		{"index.docker.io/library/busybox:1", "docker.io/library/busybox:1", "docker.io/library/busybox"},
		{"user/app", "docker.io/user/app:latest", "docker.io/user/app"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause"},
		{"localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1", "localhost:5000/a/b/c"},
		{"busybox@" + dg, "docker.io/library/busybox@" + dg, "docker.io/library/busybox"},
		{"busybox:1@" + dg, "docker.io/library/busybox@" + dg, "docker.io/library/busybox"},
	}
	for _, c := range cases {
		r, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if r.String() != c.want || r.Name() != c.name {
			t.Errorf("Parse(%q) = %q (%q), want %q (%q)", c.in, r.String(), r.Name(), c.want, c.name)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", " busybox", "Busybox", "busybox:", "busybox@sha256:abc", "a//b", "busy box", "busybox:bad tag"} {
		_, err := Parse(in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Parse(%q) err = %v, want invalid argument", in, err)
		}
	}
}

func TestOnRegistry(t *testing.T) {
	r, _ := Parse("registry.k8s.io/pause:3.10")
	m, err := r.OnRegistry("127.0.0.1:5000", true)
	if err != nil || m.String() != "127.0.0.1:5000/pause:3.10" || m.Context().Scheme() != "http" {
		t.Fatalf("mirror ref = %v %v", m, err)
	}
	d, _ := Parse("busybox@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	m, err = d.OnRegistry("mirror.example", false)
	if err != nil || m.Context().RepositoryStr() != "library/busybox" || m.Identifier() != d.Digest {
		t.Fatalf("mirror ref = %v %v", m, err)
	}
}
