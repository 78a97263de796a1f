package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/crishim/crishim/images/lock"
	"github.com/crishim/crishim/images/reference"
	"github.com/crishim/crishim/internal/errdefs"
)

// Pull fetches ref (tag or digest; "busybox" means docker.io/library/busybox:latest) for the
// host platform, trying the registry's mirrors in order and then the registry, and records
// the image. Concurrent pulls of the same reference share one transfer. A malformed
// reference is errdefs.ErrInvalidArgument; an unknown image errdefs.ErrNotFound; refused
// credentials errdefs.ErrUnauthenticated; a pull without progress for the stall timeout
// errdefs.ErrDeadlineExceeded; a full disk errdefs.ErrResourceExhausted.
func (s *Service) Pull(ctx context.Context, ref string, auth Auth) (Image, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return Image{}, err
	}
	img, shared, err := s.pulls.Do(ctx, r.String(), func(ctx context.Context) (Image, error) {
		defer s.collectIfPending()
		return s.pull(ctx, r, auth)
	})
	if shared {
		s.log.Debug("joined an in-flight pull", "image", r.String())
	}
	if err != nil {
		return Image{}, err
	}
	return s.withPinned(img), nil
}

func (s *Service) pull(ctx context.Context, r reference.Ref, auth Auth) (img Image, err error) {
	// Shared store lock: GC waits until blobs and snapshots of this pull are recorded.
	unlock, err := lock.Shared(s.opLockPath())
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	prog := newProgress(r.String(), s.log)
	defer func() { s.reportPull(prog, err) }()
	go prog.watch(ctx, cancel, s.cfg.StallTimeout.D())

	var best error
	for _, ep := range s.endpoints(r) {
		img, err := s.pullFrom(ctx, ep, r, auth, prog)
		if err == nil {
			s.log.Info("image pulled", append(prog.attrs(), "id", img.ID, "from", ep.host)...)
			return img, nil
		}
		if cause := context.Cause(ctx); cause != nil {
			return Image{}, cause
		}
		err = classify(r.String(), err)
		s.log.Warn("pull attempt failed", "image", r.String(), "endpoint", ep.host, "err", err)
		if errors.Is(err, errdefs.ErrResourceExhausted) || errors.Is(err, errCredentialsOverHTTP) {
			return Image{}, err
		}
		if rank(err) > rank(best) {
			best = err
		}
	}
	return Image{}, best
}

// pulled is what pullFrom learned about the image before fetching layers.
type pulled struct {
	top       string   // digest the reference resolved to (index or manifest)
	manifests [][]byte // raw index/manifest blobs to store
	digests   []string // their digests
	manifest  *v1.Manifest
}

func (s *Service) pullFrom(ctx context.Context, ep endpoint, r reference.Ref, auth Auth, prog *progress) (Image, error) {
	eref, err := r.OnRegistry(ep.host, ep.plainHTTP)
	if err != nil {
		return Image{}, fmt.Errorf("image %q: %w: %v", r.String(), errdefs.ErrInvalidArgument, err)
	}
	p, err := s.puller(ctx, r, ep, auth)
	if err != nil {
		return Image{}, err
	}
	pm, err := s.resolveManifest(ctx, p, eref)
	if err != nil {
		return Image{}, err
	}
	m := pm.manifest
	repo := eref.Context()
	if m.Config.Size > maxConfigSize {
		return Image{}, fmt.Errorf("image config %s: %d bytes, more than the %d allowed: %w", m.Config.Digest, m.Config.Size, maxConfigSize, errdefs.ErrInvalidArgument)
	}
	if err := s.fetchBlob(ctx, p, repo, m.Config, prog); err != nil {
		return Image{}, err
	}
	cfgBytes, err := s.content.ReadAll(m.Config.Digest.String(), maxConfigSize)
	if err != nil {
		return Image{}, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfgBytes))
	if err != nil {
		return Image{}, fmt.Errorf("image config: %w: %v", errdefs.ErrInvalidArgument, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("image config lists %d layers, manifest %d: %w", len(cf.RootFS.DiffIDs), len(m.Layers), errdefs.ErrInvalidArgument)
	}
	rec := &record{Image: Image{ID: m.Config.Digest.String(), Config: imageConfig(cf)}, Manifests: pm.digests}
	for i, l := range m.Layers {
		rec.Layers = append(rec.Layers, l.Digest.String())
		rec.DiffIDs = append(rec.DiffIDs, cf.RootFS.DiffIDs[i].String())
		rec.Size += uint64(l.Size)
	}
	rec.Size += uint64(m.Config.Size) + uint64(len(pm.manifests[len(pm.manifests)-1]))
	rec.Chain = chainIDs(rec.DiffIDs)
	if err := s.fetchLayers(ctx, p, repo, m.Layers, rec, prog); err != nil {
		return Image{}, err
	}
	for i, raw := range pm.manifests {
		if !s.content.Has(pm.digests[i]) {
			if err := s.content.Ingest(pm.digests[i], int64(len(raw)), bytes.NewReader(raw)); err != nil {
				return Image{}, err
			}
		}
	}
	if !r.IsDigest() {
		rec.RepoTags = []string{r.String()}
	}
	rec.RepoDigests = []string{r.Name() + "@" + pm.top}
	return s.commitRecord(rec)
}

// resolveManifest fetches the manifest the reference names; for an index, the manifest of
// the host platform.
func (s *Service) resolveManifest(ctx context.Context, p *remote.Puller, eref name.Reference) (*pulled, error) {
	get := func(ref name.Reference) (*remote.Descriptor, error) {
		var d *remote.Descriptor
		err := retry(ctx, func() (err error) {
			d, err = remote.Get(ref, remote.Reuse(p), remote.WithContext(ctx))
			return err
		})
		return d, err
	}
	desc, err := get(eref)
	if err != nil {
		return nil, err
	}
	pm := &pulled{top: desc.Digest.String()}
	for depth := 0; ; depth++ {
		if len(desc.Manifest) > maxManifestSize {
			return nil, fmt.Errorf("manifest %s: %d bytes, more than the %d allowed: %w", desc.Digest, len(desc.Manifest), maxManifestSize, errdefs.ErrInvalidArgument)
		}
		pm.manifests = append(pm.manifests, desc.Manifest)
		pm.digests = append(pm.digests, desc.Digest.String())
		switch {
		case desc.MediaType.IsIndex() && depth < 2:
			idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
			if err != nil {
				return nil, fmt.Errorf("image index: %w: %v", errdefs.ErrInvalidArgument, err)
			}
			d, err := selectManifest(idx, hostPlatform())
			if err != nil {
				return nil, err
			}
			if desc, err = get(eref.Context().Digest(d.Digest.String())); err != nil {
				return nil, err
			}
		case desc.MediaType.IsSchema1():
			return nil, fmt.Errorf("docker schema 1 manifests are not supported: %w", errdefs.ErrNotImplemented)
		default:
			m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
			if err != nil {
				return nil, fmt.Errorf("image manifest: %w: %v", errdefs.ErrInvalidArgument, err)
			}
			pm.manifest = m
			return pm, nil
		}
	}
}

// fetchLayers makes sure every layer's snapshot exists, downloading and applying the missing
// ones in parallel (downloads bounded by max_concurrent_downloads).
func (s *Service) fetchLayers(ctx context.Context, p *remote.Puller, repo name.Repository, layers []v1.Descriptor, rec *record, prog *progress) error {
	prog.layers.Add(int32(len(layers)))
	sem := make(chan struct{}, s.cfg.MaxConcurrentDownloads)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := layerJob{p: p, repo: repo, desc: layers[i], diffID: rec.DiffIDs[i], chainID: rec.Chain[i], sem: sem, prog: prog}
			if err := s.ensureLayer(ctx, job); err != nil {
				cancel(err)
				return
			}
			prog.layersDone.Add(1)
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}
