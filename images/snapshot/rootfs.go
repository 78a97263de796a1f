package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// Mount describes a mount for the runtime to perform (it is not mounted here).
type Mount struct {
	// Type is the filesystem type ("overlay").
	Type string
	// Source is the mount source ("overlay").
	Source string
	// Options are the mount options (lowerdir=…,upperdir=…,workdir=…).
	Options []string
}

// RootfsRecord is the persisted description of a container rootfs; it is written before the
// upper/work directories exist and names the snapshots the rootfs depends on.
type RootfsRecord struct {
	// Key is the rootfs key (the container id).
	Key string `json:"key"`
	// ImageID is the image the rootfs was prepared from.
	ImageID string `json:"image_id"`
	// Chain lists the chain IDs of the image's layers, base first.
	Chain []string `json:"chain"`
}

// maxMountData is the kernel's limit on the mount data string (one page, with its NUL).
const maxMountData = 4095

var validKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (s *Snapshotter) rootfsDir(key string) (string, error) {
	if !validKey.MatchString(key) {
		return "", fmt.Errorf("rootfs key %q: %w", key, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.root, "rootfs", key), nil
}

// Prepare creates the writable layer of a container rootfs over the snapshots of chain (base
// first) and returns the overlay mount. Preparing an existing key for the same image returns
// its mount again; for another image it is errdefs.ErrAlreadyExists.
func (s *Snapshotter) Prepare(key, imageID string, chain []string) (Mount, error) {
	dir, err := s.rootfsDir(key)
	if err != nil {
		return Mount{}, err
	}
	var old RootfsRecord
	if err := store.ReadJSON(filepath.Join(dir, "meta.json"), &old); err == nil {
		if old.ImageID != imageID {
			return Mount{}, fmt.Errorf("rootfs %q: exists for image %s: %w", key, old.ImageID, errdefs.ErrAlreadyExists)
		}
		return s.mount(dir, chain)
	}
	m, err := s.mount(dir, chain) // checks the snapshots exist before anything is written
	if err != nil {
		return Mount{}, err
	}
	rec := RootfsRecord{Key: key, ImageID: imageID, Chain: chain}
	if err := store.WriteJSON(filepath.Join(dir, "meta.json"), rec); err != nil {
		return Mount{}, fmt.Errorf("rootfs %q: %w", key, err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return Mount{}, fmt.Errorf("rootfs %q: %w", key, err)
		}
	}
	return m, nil
}

func (s *Snapshotter) mount(dir string, chain []string) (Mount, error) {
	lowers := make([]string, 0, len(chain))
	for i := len(chain) - 1; i >= 0; i-- { // newest first
		p, ok := s.Lookup(chain[i])
		if !ok {
			return Mount{}, fmt.Errorf("snapshot %s: %w", chain[i], errdefs.ErrNotFound)
		}
		lowers = append(lowers, p)
	}
	if len(lowers) == 0 {
		lowers = append(lowers, filepath.Join(s.root, "empty"))
	}
	opts := []string{
		"index=off",
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + filepath.Join(dir, "upper"),
		"workdir=" + filepath.Join(dir, "work"),
	}
	if n := len(strings.Join(opts, ",")); n > maxMountData {
		return Mount{}, fmt.Errorf("overlay mount options for %d layers are %d bytes, over the kernel's %d: %w",
			len(lowers), n, maxMountData, errdefs.ErrResourceExhausted)
	}
	return Mount{Type: "overlay", Source: "overlay", Options: opts}, nil
}

// RemoveRootfs deletes a container's writable layer; absent is not an error. The caller
// unmounts it first.
func (s *Snapshotter) RemoveRootfs(key string) error {
	dir, err := s.rootfsDir(key)
	if err != nil {
		return err
	}
	if err := s.removeDir(dir); err != nil {
		return fmt.Errorf("rootfs %q: %w", key, err)
	}
	return nil
}

// Rootfs returns the record of a prepared rootfs.
func (s *Snapshotter) Rootfs(key string) (RootfsRecord, error) {
	dir, err := s.rootfsDir(key)
	if err != nil {
		return RootfsRecord{}, err
	}
	var r RootfsRecord
	if err := store.ReadJSON(filepath.Join(dir, "meta.json"), &r); err != nil {
		return RootfsRecord{}, fmt.Errorf("rootfs %q: %w", key, err)
	}
	return r, nil
}

// RootfsList returns every prepared rootfs record.
func (s *Snapshotter) RootfsList() ([]RootfsRecord, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "rootfs"))
	if err != nil {
		return nil, err
	}
	var out []RootfsRecord
	for _, e := range ents {
		if r, err := s.Rootfs(e.Name()); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// recoverRootfs removes rootfs directories whose record was never written (crash between
// mkdir and the record write).
func (s *Snapshotter) recoverRootfs() error {
	dir := filepath.Join(s.root, "rootfs")
	store.CleanTemps(dir)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		store.CleanTemps(filepath.Join(dir, e.Name()))
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "meta.json")); errors.Is(err, os.ErrNotExist) {
			if err := s.removeDir(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// RootfsUsage returns the bytes and inodes used by a container's writable layer.
func (s *Snapshotter) RootfsUsage(key string) (bytes, inodes uint64, err error) {
	dir, err := s.rootfsDir(key)
	if err != nil {
		return 0, 0, err
	}
	if _, err := os.Stat(dir); err != nil {
		return 0, 0, fmt.Errorf("rootfs %q: %w", key, errdefs.ErrNotFound)
	}
	return DiskUsage(filepath.Join(dir, "upper"))
}

// DiskUsage walks dir and returns allocated bytes and the number of inodes, counting hard
// links once. Entries vanishing during the walk are skipped.
func DiskUsage(dir string) (bytes, inodes uint64, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		if st.Nlink > 1 {
			seen[st.Ino] = true
		}
		inodes++
		bytes += uint64(st.Blocks) * 512
		return nil
	})
	return bytes, inodes, err
}
