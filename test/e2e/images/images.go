// Package images builds, fully offline and deterministically, every image the critest suite
// (sigs.k8s.io/cri-tools v1.34.0, pkg/validate) pulls, and serves them from an in-process
// registry under their upstream repository paths. A runtime whose registry mirrors for
// registry.k8s.io and gcr.io point at that registry then pulls them by their upstream names.
//
// Every file has a fixed modification time and every layer a fixed entry order, so digests only
// change when the inputs (the busybox binary, the helper programs) change.
package images

import (
	"archive/tar"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Upstream registries whose repositories the fixture registry serves.
const (
	RegistryK8s = "registry.k8s.io"
	RegistryGCR = "gcr.io"
	RegistryECR = "public.ecr.aws"
)

// Inputs are the host files the images are made of.
type Inputs struct {
	// Busybox is a static busybox binary (see hack/build-busybox.sh).
	Busybox string
	// HelperDir holds the static helper programs built from ./cmd: pause, nginx, httpd,
	// nonewprivs.
	HelperDir string
}

// Repository is one repository of the fixture registry.
type Repository struct {
	// Upstream is the registry critest names in its image references (RegistryK8s ...).
	Upstream string
	// Path is the repository path, served as is (e.g. "e2e-test-images/busybox").
	Path string
	// Tags maps each tag to its image (an index with one linux/GOARCH manifest).
	Tags map[string]v1.ImageIndex
}

// Reference returns the upstream reference of a tag, e.g. "registry.k8s.io/pause:3.10".
func (r Repository) Reference(tag string) string {
	return r.Upstream + "/" + r.Path + ":" + tag
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Catalog builds every fixture repository from in.
func Catalog(in Inputs) ([]Repository, error) {
	b, err := newBuilder(in)
	if err != nil {
		return nil, err
	}
	busybox, err := b.image(v1.Config{Cmd: []string{"sh"}})
	if err != nil {
		return nil, err
	}
	var repos []Repository
	add := func(upstream, path string, tags map[string]v1.ImageIndex) {
		repos = append(repos, Repository{Upstream: upstream, Path: path, Tags: tags})
	}
	same := func(idx v1.ImageIndex, tags ...string) map[string]v1.ImageIndex {
		m := map[string]v1.ImageIndex{}
		for _, t := range tags {
			m[t] = idx
		}
		return m
	}
	add(RegistryK8s, "e2e-test-images/busybox", same(busybox, "1.29-2", "1.29"))
	// The image-listing benchmark pulls busybox variants from public.ecr.aws.
	add(RegistryECR, "docker/library/busybox", same(busybox, "1.35.0-glibc", "1-uclibc", "1", "1-glibc", "1-musl"))

	builders := []func(*builder, addFunc, sameFunc) error{
		addPause, addWebServers, addNoNewPrivs, addMarkerImages, addUserImages,
	}
	for _, f := range builders {
		if err := f(b, add, same); err != nil {
			return nil, err
		}
	}
	return repos, nil
}

// addFunc records a repository; sameFunc maps tags to one image.
type (
	addFunc  = func(upstream, path string, tags map[string]v1.ImageIndex)
	sameFunc = func(idx v1.ImageIndex, tags ...string) map[string]v1.ImageIndex
)

func addPause(b *builder, add addFunc, same sameFunc) error {
	l, err := b.helperLayer(entry{name: "pause", typ: tar.TypeReg, mode: 0o755}, "pause")
	if err != nil {
		return err
	}
	idx, err := index([]v1.Layer{l}, v1.Config{
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
		Env:        []string{"PATH=" + defaultPath},
	})
	if err != nil {
		return err
	}
	add(RegistryK8s, "pause", same(idx, "3.10", "3.9", "3.8", "3.7", "3.6"))
	return nil
}

func addWebServers(b *builder, add addFunc, same sameFunc) error {
	nginxBin, err := b.helper("usr/sbin/nginx", "nginx", 0o755)
	if err != nil {
		return err
	}
	nginxFiles := []entry{
		nginxBin, dir("etc/nginx", 0o755), dir("usr/share/nginx", 0o755), dir("usr/share/nginx/html", 0o755),
		file("usr/share/nginx/html/index.html", 0o644, []byte("<h1>Welcome to nginx!</h1>\n")),
	}
	nginxCfg := v1.Config{
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGTERM",
	}
	nginx, err := b.image(nginxCfg, nginxFiles...)
	if err != nil {
		return err
	}
	add(RegistryK8s, "e2e-test-images/nginx", same(nginx, "1.14-2"))

	hostnetCfg := nginxCfg
	hostnetCfg.ExposedPorts = map[string]struct{}{"12003/tcp": {}}
	hostnet, err := b.image(hostnetCfg, append(nginxFiles, file("etc/nginx/listen", 0o644, []byte("12003\n")))...)
	if err != nil {
		return err
	}
	add(RegistryGCR, "k8s-staging-cri-tools/hostnet-nginx-"+runtime.GOARCH, same(hostnet, "latest"))

	httpdBin, err := b.helper("usr/local/apache2/bin/httpd", "httpd", 0o755)
	if err != nil {
		return err
	}
	httpd, err := b.image(v1.Config{
		Cmd:          []string{"httpd-foreground"},
		Env:          []string{"PATH=/usr/local/apache2/bin:" + defaultPath, "HTTPD_PREFIX=/usr/local/apache2"},
		WorkingDir:   "/usr/local/apache2",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGWINCH",
	}, dir("usr/local/apache2", 0o755), dir("usr/local/apache2/bin", 0o755), httpdBin,
		file("usr/local/bin/httpd-foreground", 0o755, []byte("#!/bin/sh\nset -e\nexec httpd -DFOREGROUND \"$@\"\n")))
	if err != nil {
		return err
	}
	add(RegistryK8s, "e2e-test-images/httpd", same(httpd, "2.4.39-4"))
	return nil
}

func addNoNewPrivs(b *builder, add addFunc, same sameFunc) error {
	nnp, err := b.helper("usr/local/bin/nnp", "nonewprivs", 0o4755)
	if err != nil {
		return err
	}
	idx, err := b.image(v1.Config{Entrypoint: []string{"/usr/local/bin/nnp"}, User: "1000"}, nnp)
	if err != nil {
		return err
	}
	add(RegistryK8s, "e2e-test-images/nonewprivs", same(idx, "1.3"))
	return nil
}

// addMarkerImages adds the test-image-* repositories: busybox plus an empty file named like the
// repository (or, for test-image-tags and test-image-tag, like the build argument upstream uses).
func addMarkerImages(b *builder, add addFunc, same sameFunc) error {
	marker := func(name string) (v1.ImageIndex, error) {
		return b.image(v1.Config{Cmd: []string{"sh"}}, file(name, 0o644, nil))
	}
	for _, n := range []string{"test-image-1", "test-image-2", "test-image-3", "test-image-latest", "test-image-digest"} {
		idx, err := marker(n)
		if err != nil {
			return err
		}
		add(RegistryGCR, "k8s-staging-cri-tools/"+n, same(idx, "latest"))
	}
	sameImage, err := marker("same-image")
	if err != nil {
		return err
	}
	add(RegistryGCR, "k8s-staging-cri-tools/test-image-tags", same(sameImage, "1", "2", "3"))
	tags := map[string]v1.ImageIndex{}
	for _, t := range []string{"test", "all"} {
		if tags[t], err = marker(t); err != nil {
			return err
		}
	}
	add(RegistryGCR, "k8s-staging-cri-tools/test-image-tag", tags)
	return nil
}

func addUserImages(b *builder, add addFunc, same sameFunc) error {
	users := []struct{ repo, user string }{
		{"test-image-user-uid", "1002"},
		{"test-image-user-username", "www-data"},
		{"test-image-user-uid-group", "1003:1004"},
		{"test-image-user-username-group", "www-data:1004"},
	}
	for _, u := range users {
		idx, err := b.image(v1.Config{Cmd: []string{"sh"}, User: u.user})
		if err != nil {
			return err
		}
		add(RegistryGCR, "k8s-staging-cri-tools/"+u.repo, same(idx, "latest"))
	}
	// default-user (1000, primary group 1000) is also a member of group-defined-in-image (50000).
	home := dir("home/default-user", 0o755)
	home.uid, home.gid = 1000, 1000
	idx, err := b.image(v1.Config{Cmd: []string{"sh"}, User: "1000"},
		file("etc/passwd", 0o644, []byte(passwd+"default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n")),
		file("etc/group", 0o644, []byte(group+"default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n")),
		home)
	if err != nil {
		return err
	}
	add(RegistryGCR, "k8s-staging-cri-tools/test-image-predefined-group", same(idx, "latest"))
	return nil
}

// builder holds the busybox base layer shared by every image but pause.
type builder struct {
	in   Inputs
	base v1.Layer
}

func newBuilder(in Inputs) (*builder, error) {
	out, err := exec.Command(in.Busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets of %s: %w", in.Busybox, err)
	}
	bb, err := hostFile("bin/busybox", 0o755, in.Busybox)
	if err != nil {
		return nil, err
	}
	entries := []entry{bb,
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
	}
	for _, d := range baseDirs {
		entries = append(entries, dir(d.name, d.mode))
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			entries = append(entries, hardLink("bin/"+applet, "bin/busybox", 0o755))
		}
	}
	base, err := newLayer(entries)
	if err != nil {
		return nil, err
	}
	return &builder{in: in, base: base}, nil
}

// helper returns the helper program name installed at path.
func (b *builder) helper(path, name string, mode int64) (entry, error) {
	return hostFile(path, mode, b.in.HelperDir+"/"+name)
}

// helperLayer returns a layer holding only the helper program name at e.name.
func (b *builder) helperLayer(e entry, name string) (v1.Layer, error) {
	h, err := b.helper(e.name, name, e.mode)
	if err != nil {
		return nil, err
	}
	return newLayer([]entry{h})
}

// image returns busybox plus, when files are given, one layer holding them.
func (b *builder) image(cfg v1.Config, files ...entry) (v1.ImageIndex, error) {
	layers := []v1.Layer{b.base}
	if len(files) > 0 {
		l, err := newLayer(files)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	if cfg.Env == nil {
		cfg.Env = []string{"PATH=" + defaultPath}
	}
	return index(layers, cfg)
}

// index returns an OCI index holding one linux/GOARCH OCI image made of layers and cfg.
func index(layers []v1.Layer, cfg v1.Config) (v1.ImageIndex, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "crishim e2e fixture"},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{
			MediaType: types.OCIManifestSchema1,
			Platform:  &v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		},
	}), nil
}

var baseDirs = []struct {
	name string
	mode int64
}{
	{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"home", 0o755}, {"proc", 0o755},
	{"root", 0o700}, {"sbin", 0o755}, {"sys", 0o755}, {"tmp", 0o1777}, {"usr", 0o755},
	{"usr/bin", 0o755}, {"usr/local", 0o755}, {"usr/local/bin", 0o755}, {"usr/sbin", 0o755},
	{"var", 0o755}, {"var/log", 0o755}, {"var/run", 0o755}, {"var/spool", 0o755},
	{"var/spool/mail", 0o755}, {"var/www", 0o755},
}

// passwd and group are the busybox image's users and groups.
const passwd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`

const group = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`
