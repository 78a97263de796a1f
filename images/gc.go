package images

import (
	"github.com/crishim/crishim/images/lock"
)

// tryCollect collects garbage if no operation is adding data to the store right now;
// otherwise it marks the collection pending, and the operation that ends next retries it.
func (s *Service) tryCollect() {
	unlock, ok, err := lock.TryExclusive(s.opLockPath())
	if err != nil || !ok {
		s.gcPending.Store(true)
		s.log.Debug("image gc deferred: store busy", "err", err)
		return
	}
	defer unlock()
	s.gcPending.Store(false)
	if err := s.collect(); err != nil {
		s.log.Warn("image gc failed", "err", err)
	}
}

// collect deletes blobs and snapshots that no image record and no container rootfs
// references. The caller holds the exclusive store lock.
func (s *Service) collect() error {
	if err := s.reload(); err != nil {
		return err
	}
	keepBlobs, keepChains := map[string]bool{}, map[string]bool{}
	s.mu.RLock()
	for _, r := range s.records {
		keepBlobs[r.ID] = true // the config blob's digest is the image ID
		for _, d := range append(append([]string{}, r.Manifests...), r.Layers...) {
			keepBlobs[d] = true
		}
		for _, c := range r.Chain {
			keepChains[c] = true
		}
	}
	s.mu.RUnlock()
	rootfs, err := s.snaps.RootfsList()
	if err != nil {
		return err
	}
	for _, r := range rootfs {
		for _, c := range r.Chain {
			keepChains[c] = true
		}
	}
	chains, err := s.snaps.Chains()
	if err != nil {
		return err
	}
	nc, nb := 0, 0
	for c := range chains {
		if !keepChains[c] {
			if err := s.snaps.Remove(c); err != nil {
				return err
			}
			nc++
		}
	}
	blobs, err := s.content.List()
	if err != nil {
		return err
	}
	for _, b := range blobs {
		if !keepBlobs[b] {
			if err := s.content.Delete(b); err != nil {
				return err
			}
			nb++
		}
	}
	if nc+nb > 0 {
		s.log.Info("image gc", "snapshots_removed", nc, "blobs_removed", nb)
	}
	return nil
}

// collectIfPending runs a deferred collection; operations call it after releasing their
// shared lock.
func (s *Service) collectIfPending() {
	if s.gcPending.Load() {
		s.tryCollect()
	}
}
