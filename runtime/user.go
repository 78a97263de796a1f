package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// openInRootfs opens name (an absolute path in the container) for reading without letting a
// symlink or ".." escape the rootfs. A missing file returns (nil, nil).
func openInRootfs(rootfs, name string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
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
		return User{}, fmt.Errorf("open /etc/passwd of the image: %w", err)
	}
	if pf != nil {
		defer pf.Close()
		pr = pf
	}
	gf, err := openInRootfs(rootfs, "/etc/group")
	if err != nil {
		return User{}, fmt.Errorf("open /etc/group of the image: %w", err)
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
