package preflight

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountSetattrExists calls mount_setattr with a bad file descriptor: a kernel that has the
// syscall answers EBADF, an older one ENOSYS.
func mountSetattrExists() bool {
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

func fsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

// direntTypes creates a file in dir and reads the raw directory entries back: os.ReadDir
// hides a missing d_type by falling back to lstat, so it cannot tell.
func direntTypes(dir string) (bool, error) {
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		return false, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	n, err := unix.ReadDirent(fd, buf)
	if err != nil {
		return false, err
	}
	// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
	for b := buf[:n]; len(b) >= 19; {
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < 19 || reclen > len(b) {
			break
		}
		name, _, _ := bytes.Cut(b[19:reclen], []byte{0})
		if string(name) == "f" {
			return b[18] != unix.DT_UNKNOWN, nil
		}
		b = b[reclen:]
	}
	return false, fmt.Errorf("entry f not found in %s", dir)
}

// overlayProbe mounts an overlay whose upper and work dirs are in dir, deletes a lower file
// through it (a whiteout: a 0/0 character device in the upper dir) and unmounts it.
func overlayProbe(dir string) error {
	lower, upper, work, merged := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w"), filepath.Join(dir, "m")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "x"), nil, 0o600); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	werr := os.Remove(filepath.Join(merged, "x"))
	if err := unix.Unmount(merged, 0); err != nil {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount probe overlay %s: %w", merged, err)
		}
	}
	if werr != nil {
		return fmt.Errorf("delete a lower file through the overlay: %w", werr)
	}
	return nil
}
