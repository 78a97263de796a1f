package content

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// Writer writes one blob: bytes go to a temp file under ingest/ and into a hash; Commit
// verifies size and digest and makes the blob visible, Abort (or a failed Commit) removes the
// temp file.
type Writer struct {
	s    *Store
	d    string
	size int64
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

// Writer starts writing blob d of the given size (< 0: unknown).
func (s *Store) Writer(d string, size int64) (*Writer, error) {
	if _, err := ValidDigest(d); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "ingest"), "blob-*")
	if err != nil {
		return nil, diskErr(d, err)
	}
	return &Writer{s: s, d: d, size: size, f: f, h: sha256.New()}, nil
}

// Write appends p to the blob. Bytes past the blob's announced size are refused at once
// (errdefs.ErrInvalidArgument): a registry sending more than it announced cannot fill the disk.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size >= 0 && w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("blob %s: more than its %d bytes: %w", w.d, w.size, errdefs.ErrInvalidArgument)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, diskErr(w.d, err)
	}
	return n, nil
}

// Commit verifies what was written and moves it into the store, durably.
func (w *Writer) Commit() error {
	defer w.Abort()
	if w.size >= 0 && w.n != w.size {
		return fmt.Errorf("blob %s: size %d, expected %d: %w", w.d, w.n, w.size, errdefs.ErrInvalidArgument)
	}
	if got := "sha256:" + hex.EncodeToString(w.h.Sum(nil)); got != w.d {
		return fmt.Errorf("blob %s: digest mismatch (got %s): %w", w.d, got, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Sync(); err != nil {
		return diskErr(w.d, err)
	}
	if err := w.f.Close(); err != nil {
		return diskErr(w.d, err)
	}
	if err := os.Rename(w.f.Name(), w.s.Path(w.d)); err != nil {
		return diskErr(w.d, err)
	}
	w.done = true
	return store.SyncDir(filepath.Dir(w.s.Path(w.d)))
}

// Abort discards the blob unless it was committed; it may be called more than once.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}
