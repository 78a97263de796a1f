// Package fsutil holds small filesystem helpers shared by the domain packages.
package fsutil

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// PrivateDir creates dir (its parent must exist) or fixes an existing one so that no other
// host user can reach what lies below it: a container's rootfs and volumes, a pod's shm.
// rootGID < 0: owner root, mode 0700. rootGID >= 0 (a user-namespaced pod or container, whose
// root is an unprivileged host id that must still pass through): owner root, group rootGID
// (the host gid of the namespace's gid 0), mode 0710 — search only, as containerd does.
// A symlink at dir is refused, never followed.
func PrivateDir(dir string, rootGID int) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	gid, mode := 0, uint32(0o700)
	if rootGID >= 0 {
		gid, mode = rootGID, 0o710
	}
	if err := unix.Fchown(fd, 0, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}
