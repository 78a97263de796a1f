package netstats

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// pinTo bind-mounts the calling thread's netns onto path.
func pinTo(path string) error {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	return unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, "")
}

func unpin(path string) { _ = unix.Unmount(path, unix.MNT_DETACH) }
