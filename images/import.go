package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/crishim/crishim/images/lock"
	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/internal/errdefs"
)

// Import loads a `docker save` archive or an OCI image layout tarball from r into the store
// and returns the imported images. The archive is read once, streaming: every file becomes a
// content-store blob named by its digest, then the archive's manifests are interpreted, the
// layers applied and the records written. progress, when it is a terminal, shows a progress
// bar; otherwise it gets one line per imported image (nil: silent).
//
// Import may run in another process than the daemon on the same root (`shim images import`):
// it holds the store's shared lock so the daemon's GC leaves its blobs alone, and the daemon
// picks the new records up on its next lookup or listing.
func (s *Service) Import(ctx context.Context, r io.Reader, progress io.Writer) ([]Image, error) {
	imgs, err := s.importArchive(ctx, r, progress)
	s.tryCollect() // the archive's own files (manifest.json …) are garbage now
	for i := range imgs {
		imgs[i] = s.withPinned(imgs[i])
	}
	return imgs, err
}

func (s *Service) importArchive(ctx context.Context, r io.Reader, progress io.Writer) ([]Image, error) {
	unlock, err := lock.Shared(s.opLockPath())
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, finish := progressReader(r, progress)
	files, err := s.importFiles(ctx, r)
	finish()
	if err != nil {
		return nil, err
	}
	var recs []*record
	if d, ok := files["manifest.json"]; ok {
		recs, err = s.dockerArchive(files, d)
	} else if d, ok := files["index.json"]; ok {
		recs, err = s.ociLayout(d)
	} else {
		err = fmt.Errorf("archive has neither manifest.json nor index.json: %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, rec := range recs {
		prog := newProgress(rec.ID, s.log)
		for i := range rec.Layers {
			if err := s.ensureImported(ctx, rec, i, prog); err != nil {
				return out, err
			}
		}
		img, err := s.commitRecord(rec)
		if err != nil {
			return out, err
		}
		s.log.Info("image imported", "id", img.ID, "tags", img.RepoTags)
		if progress != nil {
			fmt.Fprintf(progress, "imported %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Service) ensureImported(ctx context.Context, rec *record, i int, prog *progress) error {
	_, _, err := s.layers.Do(ctx, rec.Chain[i], func(ctx context.Context) (struct{}, error) {
		if _, ok := s.snaps.Lookup(rec.Chain[i]); ok {
			return struct{}{}, nil
		}
		f, err := s.content.Open(rec.Layers[i])
		if err != nil {
			return struct{}{}, err
		}
		defer f.Close()
		return struct{}{}, s.unpack(ctx, f, rec.Layers[i], rec.DiffIDs[i], rec.Chain[i], prog, nil)
	})
	return err
}

// progressReader shows a byte progress bar on a terminal.
func progressReader(r io.Reader, w io.Writer) (io.Reader, func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return r, func() {}
	}
	size := int64(-1)
	if rf, ok := r.(*os.File); ok {
		if st, err := rf.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(w), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100_000_000))
	pr := progressbar.NewReader(r, bar)
	return &pr, func() { bar.Finish(); fmt.Fprintln(w) }
}

// importFiles stores every regular file of the archive as a blob and returns name → digest.
// Symlinks between files (old docker save layer links) are followed one level.
func (s *Service) importFiles(ctx context.Context, r io.Reader) (map[string]string, error) {
	files, links := map[string]string{}, map[string]string{}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w: %v", errdefs.ErrInvalidArgument, err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg:
			d, _, err := s.content.Add(tr)
			if err != nil {
				return nil, err
			}
			files[name] = d
		case tar.TypeSymlink:
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
		}
	}
	for name, target := range links {
		if d, ok := files[target]; ok {
			files[name] = d
		}
	}
	return files, nil
}

// readJSON decodes a manifest-like blob (manifest.json, index.json, an index or manifest).
func (s *Service) readJSON(d string, v any) error {
	b, err := s.content.ReadAll(d, maxManifestSize)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s: %w: %v", d, errdefs.ErrInvalidArgument, err)
	}
	return nil
}

// dockerArchive interprets the manifest.json of a `docker save` archive.
func (s *Service) dockerArchive(files map[string]string, manifest string) ([]*record, error) {
	var ms []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := s.readJSON(manifest, &ms); err != nil {
		return nil, err
	}
	var out []*record
	for _, m := range ms {
		cfg, ok := files[path.Clean(m.Config)]
		if !ok {
			return nil, fmt.Errorf("archive: config %q missing: %w", m.Config, errdefs.ErrInvalidArgument)
		}
		var layers []string
		for _, l := range m.Layers {
			d, ok := files[path.Clean(l)]
			if !ok {
				return nil, fmt.Errorf("archive: layer %q missing: %w", l, errdefs.ErrInvalidArgument)
			}
			layers = append(layers, d)
		}
		rec, err := s.importRecord(cfg, layers)
		if err != nil {
			return nil, err
		}
		for _, t := range m.RepoTags {
			if r, err := reference.Parse(t); err == nil && !r.IsDigest() {
				rec.RepoTags = append(rec.RepoTags, r.String())
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// importRecord builds a record from a config blob and layer blobs already in the store.
func (s *Service) importRecord(cfg string, layers []string) (*record, error) {
	b, err := s.content.ReadAll(cfg, maxConfigSize)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w: %v", cfg, errdefs.ErrInvalidArgument, err)
	}
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("image config %s lists %d layers, archive %d: %w", cfg, len(cf.RootFS.DiffIDs), len(layers), errdefs.ErrInvalidArgument)
	}
	rec := &record{Image: Image{ID: cfg, Config: imageConfig(cf), Size: uint64(len(b))}, Layers: layers}
	for i, l := range layers {
		rec.DiffIDs = append(rec.DiffIDs, cf.RootFS.DiffIDs[i].String())
		if st, err := os.Stat(s.content.Path(l)); err == nil {
			rec.Size += uint64(st.Size())
		}
	}
	rec.Chain = chainIDs(rec.DiffIDs)
	return rec, nil
}

// ociLayout interprets the index.json of an OCI image layout. Image names come from the
// io.containerd.image.name annotation or a full reference in org.opencontainers.image.ref.name.
func (s *Service) ociLayout(index string) ([]*record, error) {
	var idx v1.IndexManifest
	if err := s.readJSON(index, &idx); err != nil {
		return nil, err
	}
	var out []*record
	for _, desc := range idx.Manifests {
		md := desc
		if desc.MediaType.IsIndex() {
			var child v1.IndexManifest
			if err := s.readJSON(desc.Digest.String(), &child); err != nil {
				return nil, err
			}
			d, err := selectManifest(&child, hostPlatform())
			if err != nil {
				return nil, err
			}
			md = d
		}
		var m v1.Manifest
		if err := s.readJSON(md.Digest.String(), &m); err != nil {
			return nil, err
		}
		var layers []string
		for _, l := range m.Layers {
			layers = append(layers, l.Digest.String())
		}
		rec, err := s.importRecord(m.Config.Digest.String(), layers)
		if err != nil {
			return nil, err
		}
		rec.Manifests = union([]string{desc.Digest.String()}, []string{md.Digest.String()})
		n := desc.Annotations["io.containerd.image.name"]
		if n == "" {
			n = desc.Annotations["org.opencontainers.image.ref.name"]
		}
		if r, err := reference.Parse(n); err == nil && strings.ContainsAny(n, "/:") {
			if !r.IsDigest() {
				rec.RepoTags = []string{r.String()}
			}
			rec.RepoDigests = []string{r.Name() + "@" + desc.Digest.String()}
		}
		out = append(out, rec)
	}
	return out, nil
}
