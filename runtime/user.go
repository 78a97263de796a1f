package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// maxUserDBSize bounds /etc/passwd and /etc/group of an image: real ones are a few KiB.
const maxUserDBSize = 4 << 20

// openInRootfs opens name (an absolute path in the container, such as /etc/passwd) for
// reading without letting a symlink or ".." escape the rootfs. Its directories are resolved
// inside the rootfs; the file itself must be a regular file of at most maxUserDBSize bytes,
// not a symlink: a hostile image could otherwise make the daemon block forever on a FIFO,
// read a device or parse gigabytes. A missing file returns (nil, nil).
func openInRootfs(rootfs, name string) (io.ReadCloser, error) {
	bad := func(why string) error {
		return fmt.Errorf("%s of the image: %s: %w", name, why, errdefs.ErrInvalidArgument)
	}
	dir, err := pathrs.OpenInRoot(rootfs, path.Dir(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, bad(err.Error())
	}
	defer dir.Close()
	// O_PATH: opening a device or FIFO for reading could block or have side effects; stat first.
	fd, err := unix.Openat(int(dir.Fd()), path.Base(name), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, bad(err.Error())
	}
	h := os.NewFile(uintptr(fd), name)
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, bad(err.Error())
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return nil, bad("is a symlink, not a regular file")
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, bad(fmt.Sprintf("is not a regular file (mode %#o)", st.Mode&unix.S_IFMT))
	case st.Size > maxUserDBSize:
		return nil, bad(fmt.Sprintf("is %d bytes, more than the %d allowed", st.Size, maxUserDBSize))
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, bad(err.Error())
	}
	// The handle pins the inode, but a regular file can still grow after the stat.
	return &limitedFile{f: f, r: &tooLongReader{r: io.LimitReader(f, maxUserDBSize+1), max: maxUserDBSize, name: name}}, nil
}

// limitedFile reads at most max bytes of f and fails beyond them.
type limitedFile struct {
	f *os.File
	r io.Reader
}

func (l *limitedFile) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *limitedFile) Close() error               { return l.f.Close() }

// tooLongReader turns more than max bytes into an InvalidArgument error.
type tooLongReader struct {
	r    io.Reader
	n    int64
	max  int64
	name string
}

func (t *tooLongReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if t.n > t.max {
		return 0, fmt.Errorf("%s of the image: more than %d bytes: %w", t.name, t.max, errdefs.ErrInvalidArgument)
	}
	return n, err
}

// resolveUser computes the effective identity of the container: RunAsUser, else
// RunAsUsername, else the image user ("name", "uid", "name:group", "uid:gid"), else root;
// names are looked up in the rootfs /etc/passwd and /etc/group. RunAsGroup overrides the
// group. Supplemental groups: the primary gid, SupplementalGroups, and (policy Merge) the
// groups that list the user in /etc/group.
func resolveUser(rootfs string, sec Security, imageUser string) (User, error) {
	spec := imageUser
	switch {
	case sec.RunAsUser != nil:
		if *sec.RunAsUser < 0 || *sec.RunAsUser > 1<<31-1 {
			return User{}, fmt.Errorf("run_as_user %d: %w", *sec.RunAsUser, errdefs.ErrInvalidArgument)
		}
		spec = strconv.FormatInt(*sec.RunAsUser, 10)
	case sec.RunAsUsername != "":
		spec = sec.RunAsUsername
	}
	if sec.RunAsGroup != nil && sec.RunAsUser == nil && sec.RunAsUsername == "" {
		return User{}, fmt.Errorf("run_as_group is set without run_as_user or run_as_username: %w", errdefs.ErrInvalidArgument)
	}
	var pr, gr io.Reader
	pf, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil {
		return User{}, err
	}
	if pf != nil {
		defer pf.Close()
		pr = pf
	}
	gf, err := openInRootfs(rootfs, "/etc/group")
	if err != nil {
		return User{}, err
	}
	if gf != nil {
		defer gf.Close()
		gr = gf
	}
	eu, err := user.GetExecUser(spec, nil, pr, gr)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w: %w", spec, errdefs.ErrInvalidArgument, err)
	}
	u := User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	if sec.RunAsGroup != nil {
		if *sec.RunAsGroup < 0 || *sec.RunAsGroup > 1<<31-1 {
			return User{}, fmt.Errorf("run_as_group %d: %w", *sec.RunAsGroup, errdefs.ErrInvalidArgument)
		}
		u.GID = uint32(*sec.RunAsGroup)
	}
	add := func(g uint32) {
		if !slices.Contains(u.SupplementalGroups, g) {
			u.SupplementalGroups = append(u.SupplementalGroups, g)
		}
	}
	add(u.GID)
	for _, g := range sec.SupplementalGroups {
		if g < 0 || g > 1<<31-1 {
			return User{}, fmt.Errorf("supplemental group %d: %w", g, errdefs.ErrInvalidArgument)
		}
		add(uint32(g))
	}
	if sec.SupplementalGroupsPolicy == SupplementalGroupsMerge {
		for _, g := range eu.Sgids {
			add(uint32(g))
		}
	}
	return u, nil
}
