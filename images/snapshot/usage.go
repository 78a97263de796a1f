package snapshot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/crishim/crishim/internal/store"
)

// usage returns the disk usage of a committed snapshot directory. Snapshots never change
// after commit, so the figure is computed once and kept in usage/<n>.
func (s *Snapshotter) usage(dir string) (bytes, inodes uint64, err error) {
	f := filepath.Join(s.root, "usage", filepath.Base(dir))
	if b, err := os.ReadFile(f); err == nil {
		if _, err := fmt.Sscan(string(b), &bytes, &inodes); err == nil {
			return bytes, inodes, nil
		}
	}
	bytes, inodes, err = DiskUsage(dir)
	if err != nil {
		return 0, 0, err
	}
	if _, err := os.Stat(dir); err != nil {
		return 0, 0, err // removed while we walked: do not leave a usage file behind
	}
	return bytes, inodes, store.WriteFileAtomic(f, fmt.Appendf(nil, "%d %d\n", bytes, inodes), 0o600)
}

// Usage returns the bytes and inodes used by every committed snapshot.
func (s *Snapshotter) Usage() (bytes, inodes uint64, err error) {
	chains, err := s.Chains()
	if err != nil {
		return 0, 0, err
	}
	for _, dir := range chains {
		b, i, err := s.usage(dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue // collected meanwhile
			}
			return 0, 0, err
		}
		bytes += b
		inodes += i
	}
	return bytes, inodes, nil
}

// recoverUsage drops usage files of snapshots that no longer exist.
func (s *Snapshotter) recoverUsage() {
	dir := filepath.Join(s.root, "usage")
	store.CleanTemps(dir)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(s.root, "snapshots", e.Name())); os.IsNotExist(err) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
