// Package snapshot keeps one overlay lower directory per layer chain ID and the writable
// upper/work directories of container root filesystems.
//
// Layout under its root:
//
//	snapshots/<n>      an applied layer (n is a short number: overlay's mount options are
//	                   limited to one page, so short lowerdir paths allow deep chains)
//	chains/<hex>       symlink → ../snapshots/<n>; a snapshot is visible only through this
//	                   link, created after the snapshot directory is complete
//	staging/           layers being applied, and directories being removed
//	rootfs/<key>/      meta.json (written first), upper/, work/ of a container
//	empty/             the lower directory of images without layers
//	usage/<n>          "bytes inodes" of snapshot n (immutable, so counted once)
//
// A layer is applied into staging, synced, then renamed to snapshots/<n> and linked; a crash
// at any point leaves either no link (the next start removes the orphan) or a complete
// snapshot. Commits and removals are serialized by an flock on meta.lock, so several processes
// (the daemon and `shim images import`) can share the directory.
package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/images/lock"
	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// Snapshotter manages snapshot and rootfs directories under a root.
type Snapshotter struct {
	root string
}

// New opens (creating if needed) the snapshotter at root.
func New(root string) (*Snapshotter, error) {
	for _, d := range []string{"snapshots", "chains", "staging", "rootfs", "empty", "usage"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(root, "empty"), 0o755); err != nil {
		return nil, err
	}
	return &Snapshotter{root: root}, nil
}

func (s *Snapshotter) metaLock() (lock.Unlock, error) {
	return lock.Exclusive(filepath.Join(s.root, "meta.lock"))
}

func chainHex(chainID string) (string, error) {
	h, ok := strings.CutPrefix(chainID, "sha256:")
	if !ok || len(h) != 64 || strings.ContainsAny(h, "/.") {
		return "", fmt.Errorf("chain id %q: %w", chainID, errdefs.ErrInvalidArgument)
	}
	return h, nil
}

// Lookup returns the directory of the snapshot for chainID, if it exists.
func (s *Snapshotter) Lookup(chainID string) (string, bool) {
	h, err := chainHex(chainID)
	if err != nil {
		return "", false
	}
	target, err := os.Readlink(filepath.Join(s.root, "chains", h))
	if err != nil {
		return "", false
	}
	id := filepath.Base(target)
	return filepath.Join(s.root, "snapshots", id), true
}

// Stage creates an empty directory (mode 0755, what a layer without a "./" entry implies) to
// apply a layer into.
func (s *Snapshotter) Stage() (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.root, "staging"), "apply-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// Discard removes a staging directory.
func (s *Snapshotter) Discard(dir string) {
	os.RemoveAll(dir)
}

// Commit makes a fully applied staging directory the snapshot of chainID and returns its
// directory. If another writer committed the same chain meanwhile, dir is discarded and the
// existing snapshot is returned.
func (s *Snapshotter) Commit(dir, chainID string) (string, error) {
	h, err := chainHex(chainID)
	if err != nil {
		return "", err
	}
	if err := syncfs(dir); err != nil {
		return "", fmt.Errorf("snapshot %s: sync: %w", chainID, err)
	}
	// Counted here, outside the lock, while the tree is still in the page cache.
	ub, ui, uerr := DiskUsage(dir)
	unlock, err := s.metaLock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if p, ok := s.Lookup(chainID); ok {
		s.Discard(dir)
		return p, nil
	}
	snaps := filepath.Join(s.root, "snapshots")
	id, err := s.renameToFree(dir, snaps)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", chainID, err)
	}
	final := filepath.Join(snaps, id)
	if err := store.SyncDir(snaps); err != nil {
		return "", err
	}
	if err := os.Symlink("../snapshots/"+id, filepath.Join(s.root, "chains", h)); err != nil {
		return "", fmt.Errorf("snapshot %s: link: %w", chainID, err)
	}
	if err := store.SyncDir(filepath.Join(s.root, "chains")); err != nil {
		return "", err
	}
	if uerr == nil { // best effort: a missing figure is computed when asked for
		store.WriteFileAtomic(filepath.Join(s.root, "usage", id), fmt.Appendf(nil, "%d %d\n", ub, ui), 0o600)
	}
	return final, nil
}

// renameToFree renames dir to the next free number under snaps; RENAME_NOREPLACE makes
// the choice atomic even against another process.
func (s *Snapshotter) renameToFree(dir, snaps string) (string, error) {
	ents, err := os.ReadDir(snaps)
	if err != nil {
		return "", err
	}
	n := 0
	for _, e := range ents {
		if v, err := strconv.Atoi(e.Name()); err == nil && v > n {
			n = v
		}
	}
	for {
		n++
		id := strconv.Itoa(n)
		err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, filepath.Join(snaps, id), unix.RENAME_NOREPLACE)
		if err == nil {
			return id, nil
		}
		if err != unix.EEXIST {
			return "", err
		}
	}
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// Chains returns every committed chain ID with its snapshot directory.
func (s *Snapshotter) Chains() (map[string]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "chains"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ents))
	for _, e := range ents {
		if p, ok := s.Lookup("sha256:" + e.Name()); ok {
			out["sha256:"+e.Name()] = p
		}
	}
	return out, nil
}

// Remove deletes the snapshot of chainID (absent is not an error). The link goes first, so a
// crash leaves an orphan directory, never a link to a half-removed snapshot.
func (s *Snapshotter) Remove(chainID string) error {
	h, err := chainHex(chainID)
	if err != nil {
		return err
	}
	unlock, err := s.metaLock()
	if err != nil {
		return err
	}
	defer unlock()
	p, ok := s.Lookup(chainID)
	if !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(s.root, "chains", h)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := store.SyncDir(filepath.Join(s.root, "chains")); err != nil {
		return err
	}
	return s.removeDir(p)
}

// removeDir renames a directory into staging (atomically invisible) and deletes it.
func (s *Snapshotter) removeDir(p string) error {
	if filepath.Dir(p) == filepath.Join(s.root, "snapshots") {
		os.Remove(filepath.Join(s.root, "usage", filepath.Base(p)))
	}
	tmp := filepath.Join(s.root, "staging", "rm-"+filepath.Base(p)+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Rename(p, tmp); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(tmp)
}

// Recover removes leftovers of a crash: staging directories and snapshot directories no
// chain links to. Only call it when no other writer can be active (the caller holds the
// store's exclusive lock).
func (s *Snapshotter) Recover() error {
	staging := filepath.Join(s.root, "staging")
	ents, _ := os.ReadDir(staging)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(staging, e.Name())); err != nil {
			return err
		}
	}
	chains, err := s.Chains()
	if err != nil {
		return err
	}
	linked := map[string]bool{}
	for _, p := range chains {
		linked[filepath.Base(p)] = true
	}
	ents, err = os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !linked[e.Name()] {
			if err := s.removeDir(filepath.Join(s.root, "snapshots", e.Name())); err != nil {
				return err
			}
		}
	}
	// Dangling chain links (their snapshot vanished) are dropped too.
	links, _ := os.ReadDir(filepath.Join(s.root, "chains"))
	for _, l := range links {
		if _, ok := chains["sha256:"+l.Name()]; !ok {
			os.Remove(filepath.Join(s.root, "chains", l.Name()))
		} else if _, err := os.Stat(filepath.Join(s.root, "chains", l.Name())); err != nil {
			os.Remove(filepath.Join(s.root, "chains", l.Name()))
		}
	}
	s.recoverUsage()
	return s.recoverRootfs()
}
