package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// prepareMountpoints creates, as the daemon's root, the mount points of spec's mounts that
// lie directly in the rootfs (not inside another mount such as /dev): runc would create them
// as the container's root, which a user-namespaced container cannot do in a rootfs owned by
// the host's root. Every component is created and opened relative to a handle of the rootfs
// (pathrs-lite: openat2 RESOLVE_IN_ROOT or a verified walk), and the last one with
// mkdirat/openat(O_EXCL|O_NOFOLLOW) on that parent fd: no path is resolved twice, so a
// symlink swapped in meanwhile cannot redirect the creation out of the rootfs.
func prepareMountpoints(rootfs string, mounts []specs.Mount) error {
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	for _, m := range mounts {
		if underOtherMount(m.Destination, mounts) {
			continue
		}
		dst := filepath.Clean("/" + m.Destination)
		if dst == "/" {
			continue
		}
		isFile := false
		if m.Type == "bind" {
			if st, err := os.Stat(m.Source); err == nil && !st.IsDir() {
				isFile = true
			}
		}
		// Resolve symlinks inside the rootfs first (a dangling /etc -> /x means <rootfs>/x), then
		// create along the resolved path through the handle.
		p, err := securejoin.SecureJoin(rootfs, dst)
		if err != nil {
			return fmt.Errorf("mount point %q: %w", m.Destination, err)
		}
		rel, err := filepath.Rel(rootfs, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("mount point %q: resolves outside the rootfs", m.Destination)
		}
		if rel == "." {
			continue // the rootfs itself exists
		}
		if err := createMountpoint(root, "/"+rel, isFile); err != nil {
			return fmt.Errorf("mount point %q: %w", m.Destination, err)
		}
	}
	return nil
}

// createMountpoint creates dst (absolute inside root) as a directory or an empty file unless
// something already exists there.
func createMountpoint(root *os.File, dst string, isFile bool) error {
	dir, base := filepath.Split(dst)
	parent, err := pathrs.MkdirAllHandle(root, dir, 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	if !isFile {
		err = unix.Mkdirat(pfd, base, 0o755)
	} else {
		var fd int
		fd, err = unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
	}
	if err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// underOtherMount reports whether dst is below the destination of another mount.
func underOtherMount(dst string, mounts []specs.Mount) bool {
	for _, o := range mounts {
		if o.Destination != dst && strings.HasPrefix(dst, strings.TrimSuffix(o.Destination, "/")+"/") {
			return true
		}
	}
	return false
}
