// Package content is a content-addressed blob store: blobs/sha256/<hex>. A blob is written to
// a temp file under ingest/, verified against its digest and size, fsynced and renamed into
// place, so a blob that exists is always complete and correct.
package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/fsutil"
	"github.com/crishim/crishim/internal/store"
)

// Store is a blob store rooted at a directory.
type Store struct {
	root string
}

// New opens (creating if needed) the store at root.
func New(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Store{root: root}, nil
}

// ValidDigest checks that d is "sha256:" followed by 64 lowercase hex digits and returns the hex.
func ValidDigest(d string) (string, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return "", fmt.Errorf("digest %q: %w", d, errdefs.ErrInvalidArgument)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, errdefs.ErrInvalidArgument)
	}
	return h, nil
}

// Path is where the blob with digest d lives (whether or not it exists).
func (s *Store) Path(d string) string {
	h, _ := strings.CutPrefix(d, "sha256:")
	return filepath.Join(s.root, "blobs", "sha256", h)
}

// Has reports whether the blob exists.
func (s *Store) Has(d string) bool {
	if _, err := ValidDigest(d); err != nil {
		return false
	}
	_, err := os.Stat(s.Path(d))
	return err == nil
}

// Open opens a blob for reading; a missing blob is errdefs.ErrNotFound.
func (s *Store) Open(d string) (*os.File, error) {
	if _, err := ValidDigest(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

// ReadAll reads a small blob (manifest, config) whole; one larger than max bytes is
// errdefs.ErrInvalidArgument (a hostile image must not make the daemon load gigabytes).
func (s *Store) ReadAll(d string, max int64) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := fsutil.ReadAllLimited(f, max)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("blob %s: larger than the %d bytes allowed for metadata: %w", d, max, errdefs.ErrInvalidArgument)
	}
	return b, err
}

// Ingest copies r into the store as blob d. size < 0 means unknown. On any error — read
// error, size or digest mismatch, disk full — nothing is kept. A digest mismatch is an
// errdefs.ErrInvalidArgument error; a full disk is errdefs.ErrResourceExhausted.
func (s *Store) Ingest(d string, size int64, r io.Reader) error {
	w, err := s.Writer(d, size)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.CopyBuffer(w, r, make([]byte, 256<<10)); err != nil {
		return diskErr(d, err)
	}
	return w.Commit()
}

func diskErr(d string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("blob %s: %w: %v", d, errdefs.ErrResourceExhausted, err)
	}
	return fmt.Errorf("blob %s: %w", d, err)
}

// Delete removes a blob; a missing blob is not an error.
func (s *Store) Delete(d string) error {
	if _, err := ValidDigest(d); err != nil {
		return err
	}
	if err := os.Remove(s.Path(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// List returns the digests of every blob.
func (s *Store) List() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if _, err := ValidDigest("sha256:" + e.Name()); err == nil {
			out = append(out, "sha256:"+e.Name())
		}
	}
	return out, nil
}

// CleanIngest removes half-written temp files left by a crash. Only call it when no writer
// can be active (the caller holds the store's exclusive lock).
func (s *Store) CleanIngest() error {
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// IngestDir is the directory for temp files; import stages files there (same filesystem).
func (s *Store) IngestDir() string { return filepath.Join(s.root, "ingest") }

// Add stores r as a new blob whose digest is computed while writing, and returns the digest
// and size. Used by import, where a file's digest is only known after reading it.
func (s *Store) Add(r io.Reader) (d string, size int64, err error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "ingest"), "add-*")
	if err != nil {
		return "", 0, diskErr("(import)", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	size, err = io.CopyBuffer(io.MultiWriter(f, h), r, make([]byte, 256<<10))
	if err != nil {
		return "", 0, diskErr("(import)", err)
	}
	d = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err := f.Sync(); err != nil {
		return "", 0, diskErr(d, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, diskErr(d, err)
	}
	if err := os.Rename(f.Name(), s.Path(d)); err != nil {
		return "", 0, diskErr(d, err)
	}
	return d, size, store.SyncDir(filepath.Dir(s.Path(d)))
}
