// Package apply extracts an OCI/Docker layer tar stream into an overlayfs snapshot directory.
//
// It streams (one entry at a time, never the whole layer in memory), converts whiteouts into
// overlay's format (".wh.x" → a 0/0 character device "x", ".wh..wh..opq" → the xattr
// trusted.overlay.opaque=y on the directory), keeps hard links, ownership, modes (setuid
// included), xattrs and mtimes, and never writes outside the root: entry names containing ".."
// are rejected and every parent directory is opened with openat2(RESOLVE_IN_ROOT), so symlinks
// in the tree — absolute or relative — resolve inside the root. All file operations are *at
// calls relative to such a directory with O_NOFOLLOW on the final component.
package apply

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// Whiteout prefixes of the OCI layer format.
const (
	WhiteoutPrefix = ".wh."
	OpaqueMarker   = ".wh..wh..opq"
	OpaqueXattr    = "trusted.overlay.opaque"
)

// Options tune Apply.
type Options struct {
	// AllowDevices permits character and block device entries other than 0/0 whiteouts.
	AllowDevices bool
	// NoOwnership skips chown (for callers that are not root, such as unit tests).
	NoOwnership bool
}

// Stats describes what Apply wrote.
type Stats struct {
	// Entries is the number of tar entries processed.
	Entries int
	// Bytes is the total size of regular file contents written.
	Bytes int64
}

type dirTime struct {
	rel        string
	atime, mtm time.Time
}

type applier struct {
	ctx      context.Context
	rootfd   int
	opts     Options
	cacheRel string
	cacheFd  int
	stale    bool
	dirs     []dirTime
	buf      []byte
}

// Apply extracts the uncompressed tar stream r into the directory root, which must exist.
// Any entry that would land outside root, an unsupported entry type or a device node (unless
// allowed) fails the whole apply; the caller discards the directory on error. The stream is
// read to its end so a caller hashing it sees every byte.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("open snapshot root %s: %w", root, err)
	}
	a := &applier{ctx: ctx, rootfd: fd, opts: opts, cacheFd: -1, buf: make([]byte, 128<<10)}
	defer a.close()
	var st Stats
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read layer tar: %w", err)
		}
		n, err := a.entry(hdr, tr)
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return st, fmt.Errorf("layer entry %q: %w: %v", hdr.Name, errdefs.ErrResourceExhausted, err)
		}
		if err != nil {
			return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		st.Entries++
		st.Bytes += n
	}
	if err := a.restoreDirTimes(); err != nil {
		return st, err
	}
	if _, err := io.CopyBuffer(io.Discard, r, a.buf); err != nil {
		return st, fmt.Errorf("read layer tar: %w", err)
	}
	return st, nil
}

func (a *applier) close() {
	a.dropCache()
	unix.Close(a.rootfd)
}

// CleanName turns a tar entry name into a path relative to the root ("" is the root itself).
// Names with a ".." component or a NUL byte are rejected.
func CleanName(n string) (string, error) {
	if strings.IndexByte(n, 0) >= 0 {
		return "", fmt.Errorf("name contains NUL: %w", errdefs.ErrInvalidArgument)
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("path traversal in %q: %w", n, errdefs.ErrInvalidArgument)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+n), "/"), nil
}

func split(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	return strings.TrimSuffix(dir, "/"), base
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) (int64, error) {
	rel, err := CleanName(hdr.Name)
	if err != nil {
		return 0, err
	}
	dir, base := split(rel)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return 0, a.whiteout(dir, base)
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return 0, fmt.Errorf("root entry is not a directory: %w", errdefs.ErrInvalidArgument)
		}
		return 0, a.rootDir(hdr)
	}
	pfd, err := a.parent(dir)
	if err != nil {
		return 0, err
	}
	if err := a.prepareTarget(pfd, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return 0, err
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		if isSparse(hdr) {
			// A sparse entry can claim terabytes of holes with a few bytes of input.
			return 0, fmt.Errorf("sparse files are not supported: %w", errdefs.ErrInvalidArgument)
		}
		return a.regular(pfd, base, hdr, r)
	case tar.TypeDir:
		return 0, a.dir(pfd, rel, base, hdr)
	case tar.TypeSymlink:
		a.invalidate()
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return 0, fmt.Errorf("symlink: %w", err)
		}
		return 0, a.meta(-1, pfd, base, hdr)
	case tar.TypeLink:
		return 0, a.hardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return 0, a.node(pfd, base, hdr)
	case tar.TypeXGlobalHeader:
		return 0, nil
	default:
		return 0, fmt.Errorf("unsupported tar entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
}

func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (a *applier) regular(pfd int, base string, hdr *tar.Header, r io.Reader) (int64, error) {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	n, err := io.CopyBuffer(fdWriter(fd), r, a.buf)
	if err != nil {
		return n, fmt.Errorf("write: %w", err)
	}
	return n, a.meta(fd, pfd, base, hdr)
}

// fdWriter writes to a raw fd (an *os.File would register it with the poller for nothing).
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

func (a *applier) dir(pfd int, rel, base string, hdr *tar.Header) error {
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer unix.Close(fd)
	if err := a.attrs(fd, hdr); err != nil {
		return err
	}
	a.dirs = append(a.dirs, dirTime{rel: rel, atime: hdr.AccessTime, mtm: hdr.ModTime})
	return nil
}

func (a *applier) rootDir(hdr *tar.Header) error {
	if err := a.attrs(a.rootfd, hdr); err != nil {
		return err
	}
	a.dirs = append(a.dirs, dirTime{rel: "", atime: hdr.AccessTime, mtm: hdr.ModTime})
	return nil
}

func (a *applier) hardlink(pfd int, base string, hdr *tar.Header) error {
	trel, err := CleanName(hdr.Linkname)
	if err != nil || trel == "" {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	tdir, tbase := split(trel)
	tfd, err := a.open(tdir)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself, never its target.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (a *applier) node(pfd int, base string, hdr *tar.Header) error {
	var mode uint32
	switch hdr.Typeflag {
	case tar.TypeFifo:
		mode = unix.S_IFIFO
	case tar.TypeChar:
		mode = unix.S_IFCHR
	default:
		mode = unix.S_IFBLK
	}
	isWhiteout := hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0
	if mode != unix.S_IFIFO && !isWhiteout && !a.opts.AllowDevices {
		return fmt.Errorf("device node %d:%d not allowed in a layer: %w", hdr.Devmajor, hdr.Devminor, errdefs.ErrInvalidArgument)
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(pfd, base, mode|uint32(hdr.Mode&0o7777), int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return a.meta(-1, pfd, base, hdr)
}

func (a *applier) whiteout(dir, base string) error {
	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	if base == OpaqueMarker {
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open opaque dir: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Fsetxattr(fd, OpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("set %s: %w", OpaqueXattr, err)
		}
		return nil
	}
	if strings.HasPrefix(base, WhiteoutPrefix+WhiteoutPrefix) {
		return nil // other aufs metadata (.wh..wh.plnk …): meaningless for overlay
	}
	target := strings.TrimPrefix(base, WhiteoutPrefix)
	// ".wh..." would name the parent of its own directory (the layer root's parent at the
	// top): a whiteout only ever hides an entry of the directory it sits in.
	if target == "" || target == "." || target == ".." || strings.ContainsAny(target, "/\x00") {
		return fmt.Errorf("whiteout %q names no entry of its directory: %w", base, errdefs.ErrInvalidArgument)
	}
	if err := a.prepareTarget(pfd, target, false); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %q: %w", target, err)
	}
	return nil
}
