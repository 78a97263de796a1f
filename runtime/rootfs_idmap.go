package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// mountUserNSRootfs mounts the rootfs at target; for a container joining a pod user
// namespace it first tries an idmapped overlay (see idmapOverlay) and, where the kernel or
// the filesystem cannot do it, falls back to the plain mount (the container's root then
// reads the image but cannot write to its rootfs).
func (m *Manager) mountUserNSRootfs(c *container, mnt Mount, target string) error {
	pod := c.rec.Spec.Pod
	if pod.UserNSPath == "" || mnt.Type != "overlay" {
		return mountFS(mnt, target)
	}
	uid, gid, err := podRootIDs(pod)
	if err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	idm, release, err := idmapOverlay(mnt, c.dir, pod.UserNSPath, uid, gid)
	if err == nil {
		err = mountFS(idm, target)
		release()
		if err == nil {
			return nil
		}
		restoreUpper(mnt)
	}
	m.log.Warn("idmapped rootfs unavailable, mounting it unmapped", "container", c.id, "err", err)
	return mountFS(mnt, target)
}

// restoreUpper gives the upper directory back to the host's root after a failed idmap.
func restoreUpper(mnt Mount) {
	for _, o := range mnt.Options {
		if up, ok := strings.CutPrefix(o, "upperdir="); ok {
			_ = os.Lchown(up, 0, 0)
		}
	}
}

// idmapOverlay adapts an overlay rootfs mount to a pod user namespace, so that the
// container's root (uid/gid 0 of the namespace) owns its root filesystem as it would without
// one: every lower layer is replaced by an idmapped mount of it (host ids shifted into the
// namespace, under dir/idmap/<i>), and the upper directory is chowned to the host ids of the
// namespace's root so that "/" and every new file belong to the container's root. Overlay
// keeps private clones of its layers, so release (called once the overlay is mounted)
// unmounts the idmapped mounts again; on a crash before that, unmountAll of the container
// directory sweeps them.
func idmapOverlay(m Mount, dir, usernsPath string, rootUID, rootGID int) (Mount, func(), error) {
	noop := func() {}
	ns, err := os.Open(usernsPath)
	if err != nil {
		return m, noop, fmt.Errorf("open pod user namespace: %w", err)
	}
	defer ns.Close()
	base := filepath.Join(dir, "idmap")
	release := func() {
		ents, _ := os.ReadDir(base)
		for _, e := range ents {
			_ = unix.Unmount(filepath.Join(base, e.Name()), unix.MNT_DETACH)
		}
		_ = os.RemoveAll(base)
	}
	out := Mount{Type: m.Type, Source: m.Source}
	for _, o := range m.Options {
		switch {
		case strings.HasPrefix(o, "lowerdir="):
			var lowers []string
			for i, l := range strings.Split(strings.TrimPrefix(o, "lowerdir="), ":") {
				target := filepath.Join(base, strconv.Itoa(i))
				if err := idmapMount(l, target, int(ns.Fd())); err != nil {
					release()
					return m, noop, err
				}
				lowers = append(lowers, target)
			}
			o = "lowerdir=" + strings.Join(lowers, ":")
		case strings.HasPrefix(o, "upperdir="):
			upper := strings.TrimPrefix(o, "upperdir=")
			if err := os.Lchown(upper, rootUID, rootGID); err != nil {
				release()
				restoreUpper(m)
				return m, noop, fmt.Errorf("chown rootfs upper dir to the pod's root: %w", err)
			}
		}
		out.Options = append(out.Options, o)
	}
	return out, release, nil
}

// idmapMount mounts a clone of src at target, idmapped through the user namespace usernsFD.
func idmapMount(src, target string, usernsFD int) error {
	if err := os.MkdirAll(target, 0o700); err != nil {
		return err
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("idmap %s (needs kernel support for idmapped mounts of its filesystem): %w", src, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move idmapped %s: %w", src, err)
	}
	return nil
}

// podRootIDs returns the host uid and gid of the pod user namespace's root.
func podRootIDs(p PodSpec) (uid, gid int, err error) {
	find := func(ms []IDMapping) (int, bool) {
		for _, x := range ms {
			if x.ContainerID == 0 && x.Size > 0 {
				return int(x.HostID), true
			}
		}
		return 0, false
	}
	u, okU := find(p.UIDMappings)
	g, okG := find(p.GIDMappings)
	if !okU || !okG {
		return 0, 0, errors.New("pod user namespace: id 0 is not mapped")
	}
	return u, g, nil
}
