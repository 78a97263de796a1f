// Package images pulls images from registries (with mirrors, auth, retries and a stall
// timeout) into a content store, applies their layers once per chain ID into overlay
// snapshots, keeps image records, prepares container root filesystems and collects garbage.
//
// On-disk layout under the root directory:
//
//	blobs/sha256/<hex>   content store (manifests, configs, compressed layers)
//	ingest/              blobs being written
//	records/<hex>.json   one image record per image ID
//	snapshots/, chains/, staging/, rootfs/, empty/   see package snapshot
//	lock                 shared by every operation that creates unreferenced data (pulls,
//	                     imports, rootfs preparation), exclusive for GC and crash cleanup
//	meta.lock            exclusive around record and snapshot-index mutations
//
// Several processes may use one root: the daemon and `shim images import`. Record mutations
// re-read records from disk under meta.lock, lookups that miss reload from disk, and GC runs
// only when it gets the exclusive lock, i.e. when nobody is in the middle of adding data.
package images

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crishim/crishim/images/content"
	"github.com/crishim/crishim/images/flight"
	"github.com/crishim/crishim/images/lock"
	"github.com/crishim/crishim/images/snapshot"
	"github.com/crishim/crishim/internal/store"
)

// Service is the image store and puller.
type Service struct {
	cfg     Config
	pinned  map[string]bool // normalized pinned references, see withPinned
	root    string
	log     *slog.Logger
	content *content.Store
	snaps   *snapshot.Snapshotter

	mu      sync.RWMutex
	records map[string]*record // by image ID
	seen    time.Time          // mtime of records/ when last loaded

	pulls  flight.Group[Image]
	blobs  flight.Group[struct{}]
	layers flight.Group[struct{}]

	follow    followers   // pulls waiting on shared work, see progress.go
	gcPending atomic.Bool // a collection was skipped because the store was busy

	tmu        sync.Mutex
	transports map[string]http.RoundTripper

	pullHook atomic.Pointer[func(PullReport)] // OnPull
}

// New opens the store at root (creating it), loads the records, cleans what a crash left
// half-written and collects unreferenced blobs and snapshots.
func New(cfg Config, root string, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "records"), 0o700); err != nil {
		return nil, err
	}
	cs, err := content.New(root)
	if err != nil {
		return nil, err
	}
	sn, err := snapshot.New(root)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, pinned: pinnedRefs(cfg.Pinned), root: root, log: log, content: cs, snaps: sn, records: map[string]*record{},
		transports: map[string]http.RoundTripper{}}
	if err := s.reload(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) opLockPath() string { return filepath.Join(s.root, "lock") }

func (s *Service) metaLock() (lock.Unlock, error) {
	return lock.Exclusive(filepath.Join(s.root, "meta.lock"))
}

// recover cleans crash leftovers and collects garbage, unless another process is working on
// the store right now (then its leftovers are not leftovers).
func (s *Service) recover() error {
	unlock, ok, err := lock.TryExclusive(s.opLockPath())
	if err != nil {
		return err
	}
	if !ok {
		s.log.Info("image store busy (an import is running); crash cleanup deferred")
		return nil
	}
	defer unlock()
	store.CleanTemps(filepath.Join(s.root, "records"))
	if err := s.content.CleanIngest(); err != nil {
		return fmt.Errorf("clean ingest: %w", err)
	}
	if err := s.snaps.Recover(); err != nil {
		return fmt.Errorf("clean snapshots: %w", err)
	}
	return s.collect()
}

// reload reads every record from disk, replacing the in-memory set.
func (s *Service) reload() error {
	dir := filepath.Join(s.root, "records")
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	recs := map[string]*record{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var r record
		if err := store.ReadJSON(filepath.Join(dir, e.Name()), &r); err != nil {
			s.log.Warn("skipping unreadable image record", "file", e.Name(), "err", err)
			continue
		}
		recs[r.ID] = &r
	}
	s.mu.Lock()
	s.records, s.seen = recs, st.ModTime()
	s.mu.Unlock()
	return nil
}

// refresh reloads the records if another process changed the records directory.
func (s *Service) refresh() {
	st, err := os.Stat(filepath.Join(s.root, "records"))
	if err != nil {
		return
	}
	s.mu.RLock()
	same := st.ModTime().Equal(s.seen)
	s.mu.RUnlock()
	if !same {
		if err := s.reload(); err != nil {
			s.log.Warn("reload image records", "err", err)
		}
	}
}

func (s *Service) recordPath(id string) string {
	return filepath.Join(s.root, "records", strings.TrimPrefix(id, "sha256:")+".json")
}

// commitRecord stores rec, merging it with an existing record of the same ID and moving its
// tags away from other images (a tag names one image at a time).
func (s *Service) commitRecord(rec *record) (Image, error) {
	unlock, err := s.metaLock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	if err := s.reload(); err != nil {
		return Image{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, other := range s.records {
		if id == rec.ID {
			continue
		}
		kept := without(other.RepoTags, rec.RepoTags)
		if len(kept) == len(other.RepoTags) {
			continue
		}
		o := *other
		o.RepoTags = kept
		if err := store.WriteJSON(s.recordPath(id), &o); err != nil {
			return Image{}, err
		}
		s.records[id] = &o
	}
	if old, ok := s.records[rec.ID]; ok {
		rec.RepoTags = union(old.RepoTags, rec.RepoTags)
		rec.RepoDigests = union(old.RepoDigests, rec.RepoDigests)
		rec.Manifests = union(old.Manifests, rec.Manifests)
	}
	if err := store.WriteJSON(s.recordPath(rec.ID), rec); err != nil {
		return Image{}, fmt.Errorf("image %s: write record: %w", rec.ID, err)
	}
	s.records[rec.ID] = rec
	return rec.Image, nil
}

func without(list, drop []string) []string {
	out := []string{}
	for _, v := range list {
		found := false
		for _, d := range drop {
			found = found || d == v
		}
		if !found {
			out = append(out, v)
		}
	}
	return out
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, v := range b {
		found := false
		for _, x := range out {
			found = found || x == v
		}
		if !found {
			out = append(out, v)
		}
	}
	return out
}

// deleteRecord removes the record of id (absent is not an error).
func (s *Service) deleteRecord(id string) error {
	unlock, err := s.metaLock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(s.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image %s: remove record: %w", id, err)
	}
	if err := store.SyncDir(filepath.Join(s.root, "records")); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.records, id)
	s.mu.Unlock()
	return nil
}

// Close releases nothing today; it exists so callers can defer it.
func (s *Service) Close() error { return nil }
