package apply

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// open opens rel (a directory relative to the root) as an O_PATH fd, resolving every
// component inside the root. The caller closes it.
func (a *applier) open(rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(a.rootfd, rel, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// parent returns an fd for the directory rel, creating missing components (mode 0755, like
// other runtimes do for implied parents). The fd is cached; callers must not close it.
func (a *applier) parent(rel string) (int, error) {
	if a.cacheFd >= 0 && a.cacheRel == rel && !a.stale {
		return a.cacheFd, nil
	}
	fd, err := a.open(rel)
	if errors.Is(err, unix.ENOENT) {
		fd, err = a.mkdirAll(rel)
	}
	if err != nil {
		return -1, fmt.Errorf("parent directory %q: %w", rel, err)
	}
	a.dropCache()
	a.cacheRel, a.cacheFd = rel, fd
	return fd, nil
}

// invalidate marks the cached directory fd stale: a symlink or directory was replaced, so the
// cached path may now resolve elsewhere. The fd stays open while the current entry uses it.
func (a *applier) invalidate() { a.stale = true }

func (a *applier) dropCache() {
	if a.cacheFd >= 0 {
		unix.Close(a.cacheFd)
	}
	a.cacheFd, a.cacheRel, a.stale = -1, "", false
}

func (a *applier) mkdirAll(rel string) (int, error) {
	cur, err := a.open("")
	if err != nil {
		return -1, err
	}
	prefix := ""
	for _, c := range strings.Split(rel, "/") {
		prefix = path.Join(prefix, c)
		next, err := a.open(prefix)
		if errors.Is(err, unix.ENOENT) {
			// cur was resolved inside the root and c is a single name: mkdirat cannot escape.
			if err = unix.Mkdirat(cur, c, 0o755); err == nil || err == unix.EEXIST {
				next, err = a.open(prefix)
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// prepareTarget removes whatever exists at base unless both it and the new entry are
// directories (a later entry of the same layer replaces an earlier one).
func (a *applier) prepareTarget(pfd int, base string, isDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	existingDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if existingDir && isDir {
		return nil
	}
	if !existingDir {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			a.invalidate()
		}
		return unix.Unlinkat(pfd, base, 0)
	}
	a.invalidate()
	return removeAllAt(pfd, base)
}

// removeAllAt removes name (a single component) from the directory pfd and, for a directory,
// everything below it, with openat/unlinkat on directory fds only: no path is ever resolved
// again, so neither a symlink nor ".." can take the removal outside pfd.
func removeAllAt(pfd int, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("remove %q: not a single name: %w", name, unix.EINVAL)
	}
	err := unix.Unlinkat(pfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return fmt.Errorf("remove %q: %w", name, err)
	}
	err = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.ENOTEMPTY && err != unix.EEXIST {
		return fmt.Errorf("remove directory %q: %w", name, err)
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory %q: %w", name, err)
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	// A read-only directory from the layer (0500) must still be emptied; it goes away anyway.
	_ = unix.Fchmod(fd, 0o700)
	for {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			if rerr := removeAllAt(fd, n); rerr != nil {
				return fmt.Errorf("%s/%w", name, rerr)
			}
		}
		if err == io.EOF || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("read directory %q: %w", name, err)
		}
	}
	if err := unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove directory %q: %w", name, err)
	}
	return nil
}

// attrs sets ownership, mode and xattrs through an open fd (regular files and directories).
func (a *applier) attrs(fd int, hdr *tar.Header) error {
	if !a.opts.NoOwnership {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// After chown: chown clears setuid/setgid.
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") {
			continue // overlay metadata from a layer could redirect lookups: never trust it
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// meta sets attributes of a non-directory entry: through fd when open (regular files),
// otherwise with *at calls that do not follow a final symlink. Times are set last.
func (a *applier) meta(fd, pfd int, base string, hdr *tar.Header) error {
	if fd >= 0 {
		if err := a.attrs(fd, hdr); err != nil {
			return err
		}
	} else if !a.opts.NoOwnership {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("lchown: %w", err)
		}
	}
	if hdr.Typeflag == tar.TypeFifo {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return setTimes(pfd, base, hdr.AccessTime, hdr.ModTime)
}

func setTimes(pfd int, base string, atime, mtime interface{ UnixNano() int64 }) error {
	at := atime.UnixNano()
	if at <= 0 {
		at = mtime.UnixNano()
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// restoreDirTimes sets directory times after all their children were written (creating a
// child changes the parent's mtime), deepest last-written first.
func (a *applier) restoreDirTimes() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		dir, base := split(d.rel)
		if d.rel == "" {
			dir, base = "", "."
		}
		pfd, err := a.open(dir)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue // a later entry removed or replaced the directory or a parent
		}
		if err != nil {
			return fmt.Errorf("directory %q: %w", d.rel, err)
		}
		err = setTimes(pfd, base, d.atime, d.mtm)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("directory %q: %w", d.rel, err)
		}
	}
	return nil
}
