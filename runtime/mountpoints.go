package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// prepareMountpoints creates, as the daemon's root, the mount points of spec's mounts that
// lie directly in the rootfs (not inside another mount such as /dev): runc would create them
// as the container's root, which a user-namespaced container cannot do in a rootfs owned by
// the host's root. Paths resolve inside the rootfs (no symlink escape).
func prepareMountpoints(rootfs string, mounts []specs.Mount) error {
	for _, m := range mounts {
		if underOtherMount(m.Destination, mounts) {
			continue
		}
		p, err := securejoin.SecureJoin(rootfs, m.Destination)
		if err != nil {
			return fmt.Errorf("mount point %q: %w", m.Destination, err)
		}
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			continue
		}
		isFile := false
		if m.Type == "bind" {
			if st, err := os.Stat(m.Source); err == nil && !st.IsDir() {
				isFile = true
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("mount point %q: %w", m.Destination, err)
		}
		if !isFile {
			err = os.Mkdir(p, 0o755)
		} else {
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				err = f.Close()
			}
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("mount point %q: %w", m.Destination, err)
		}
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
