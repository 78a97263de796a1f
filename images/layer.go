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
// chain (or the same blob) share the work. A layer whose blob is not in the store yet is
// applied while it downloads (streamLayer); one whose blob is there is applied from disk.
func (s *Service) ensureLayer(ctx context.Context, j layerJob) error {
	defer s.follow.follow(j.chainID, j.prog)()
	defer s.follow.follow(j.desc.Digest.String(), j.prog)()
	_, _, err := s.layers.Do(ctx, j.chainID, func(ctx context.Context) (struct{}, error) {
		if _, ok := s.snaps.Lookup(j.chainID); ok {
			return struct{}{}, nil
		}
		dg := j.desc.Digest.String()
		if !s.content.Has(dg) {
			select {
			case j.sem <- struct{}{}:
			case <-ctx.Done():
				return struct{}{}, context.Cause(ctx)
			}
			_, _, err := s.blobs.Do(ctx, dg, func(ctx context.Context) (struct{}, error) {
				if s.content.Has(dg) {
					return struct{}{}, nil
				}
				return struct{}{}, retry(ctx, func() error { return s.streamLayer(ctx, j) })
			})
			<-j.sem
			if err != nil {
				return struct{}{}, err
			}
			if _, ok := s.snaps.Lookup(j.chainID); ok {
				return struct{}{}, nil
			}
			// The blob came from a download started for another chain: apply it from disk.
		}
		f, err := s.content.Open(dg)
		if err != nil {
			return struct{}{}, err
		}
		defer f.Close()
		return struct{}{}, s.unpack(ctx, f, dg, j.diffID, j.chainID, j.prog, nil)
	})
	return err
}

// streamLayer downloads the job's blob into the content store and applies it into its
// snapshot in one pass. The blob is committed (digest verified) before the snapshot, and
// neither is kept if anything fails.
func (s *Service) streamLayer(ctx context.Context, j layerJob) error {
	dg := j.desc.Digest.String()
	rc, err := openBlob(ctx, j.p, j.repo, dg)
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := s.content.Writer(dg, j.desc.Size)
	if err != nil {
		return err
	}
	defer w.Abort()
	r := io.TeeReader(j.prog.reader(rc, &s.follow, dg), w)
	return s.unpack(ctx, r, dg, j.diffID, j.chainID, j.prog, func() error {
		if _, err := io.Copy(io.Discard, r); err != nil { // the rest of the compressed stream
			return err
		}
		return w.Commit()
	})
}

// openBlob opens the compressed stream of blob dg of repo through the puller p.
func openBlob(ctx context.Context, p *remote.Puller, repo name.Repository, dg string) (io.ReadCloser, error) {
	l, err := remote.Layer(repo.Digest(dg), remote.Reuse(p), remote.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return l.Compressed()
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
			rc, err := openBlob(ctx, p, repo, dg)
			if err != nil {
				return err
			}
			defer rc.Close()
			return s.content.Ingest(dg, d.Size, prog.reader(rc, &s.follow, dg))
		})
	})
	return err
}

// unpack applies a layer blob read from r into a new snapshot for chainID, verifying that
// the uncompressed stream matches diffID, and calling beforeCommit (if set) before the
// snapshot becomes visible; any error discards the snapshot.
func (s *Service) unpack(ctx context.Context, r io.Reader, blob, diffID, chainID string, prog *progress, beforeCommit func() error) (err error) {
	dr, err := apply.Decompress(r)
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
	if beforeCommit != nil {
		if err := beforeCommit(); err != nil {
			return err
		}
	}
	if _, err := s.snaps.Commit(dir, chainID); err != nil {
		return err
	}
	s.log.Debug("layer applied", "blob", blob, "chain", chainID, "entries", st.Entries, "bytes", st.Bytes)
	return nil
}
