package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/crishim/crishim/images/apply"
	"github.com/crishim/crishim/internal/errdefs"
)

// layerJob is one layer of one pull.
type layerJob struct {
	p       *remote.Puller
	repo    name.Repository
	desc    v1.Descriptor
	diffID  string
	chainID string
	sem     chan struct{}
	prog    *progress
}

// ensureLayer makes the snapshot of the job's chain exist. Concurrent pulls needing the same
// chain (or the same blob) share the work.
func (s *Service) ensureLayer(ctx context.Context, j layerJob) error {
	defer s.follow.follow(j.chainID, j.prog)()
	defer s.follow.follow(j.desc.Digest.String(), j.prog)()
	_, _, err := s.layers.Do(ctx, j.chainID, func(ctx context.Context) (struct{}, error) {
		if _, ok := s.snaps.Lookup(j.chainID); ok {
			return struct{}{}, nil
		}
		select {
		case j.sem <- struct{}{}:
		case <-ctx.Done():
			return struct{}{}, context.Cause(ctx)
		}
		err := s.fetchBlob(ctx, j.p, j.repo, j.desc, j.prog)
		<-j.sem
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.unpack(ctx, j.desc.Digest.String(), j.diffID, j.chainID, j.prog)
	})
	return err
}

// fetchBlob downloads a blob into the content store unless it is there, retrying transient
// failures; concurrent fetches of one digest share a download.
func (s *Service) fetchBlob(ctx context.Context, p *remote.Puller, repo name.Repository, d v1.Descriptor, prog *progress) error {
	dg := d.Digest.String()
	if s.content.Has(dg) {
		return nil
	}
	defer s.follow.follow(dg, prog)()
	_, _, err := s.blobs.Do(ctx, dg, func(ctx context.Context) (struct{}, error) {
		if s.content.Has(dg) {
			return struct{}{}, nil
		}
		return struct{}{}, retry(ctx, func() error {
			l, err := remote.Layer(repo.Digest(dg), remote.Reuse(p), remote.WithContext(ctx))
			if err != nil {
				return err
			}
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			defer rc.Close()
			return s.content.Ingest(dg, d.Size, prog.reader(rc, &s.follow, dg))
		})
	})
	return err
}

// unpack applies a stored layer blob into a new snapshot for chainID, verifying that the
// uncompressed stream matches diffID before the snapshot becomes visible.
func (s *Service) unpack(ctx context.Context, blob, diffID, chainID string, prog *progress) (err error) {
	f, err := s.content.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	dr, err := apply.Decompress(f)
	if err != nil {
		return fmt.Errorf("layer %s: %w: %v", blob, errdefs.ErrInvalidArgument, err)
	}
	defer dr.Close()
	dir, err := s.snaps.Stage()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.snaps.Discard(dir)
		}
	}()
	h := sha256.New()
	st, err := apply.Apply(ctx, dir, io.TeeReader(prog.activity(dr, &s.follow, chainID), h), apply.Options{NoOwnership: os.Geteuid() != 0})
	if err != nil {
		return fmt.Errorf("layer %s: %w", blob, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return fmt.Errorf("layer %s: uncompressed digest %s, image config says %s: %w", blob, got, diffID, errdefs.ErrInvalidArgument)
	}
	if _, err := s.snaps.Commit(dir, chainID); err != nil {
		return err
	}
	s.log.Debug("layer applied", "blob", blob, "chain", chainID, "entries", st.Entries, "bytes", st.Bytes)
	return nil
}
