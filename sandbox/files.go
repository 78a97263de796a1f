package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/crishim/crishim/internal/store"
	"golang.org/x/sys/unix"
)

// defaultHosts is the /etc/hosts of a pod with its own network namespace (kubelet usually
// bind-mounts its own managed file over it).
const defaultHosts = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
`

// resolvConf renders a resolv.conf from the pod's DNS config.
func resolvConf(d *DNSConfig) []byte {
	var b strings.Builder
	for _, s := range d.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(d.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Searches, " "))
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	return []byte(b.String())
}

func dnsEmpty(d *DNSConfig) bool {
	return d == nil || len(d.Servers)+len(d.Searches)+len(d.Options) == 0
}

// writePodFiles writes /etc/hosts, /etc/resolv.conf and /etc/hostname for the pod.
func writePodFiles(sb *Sandbox) error {
	hosts := []byte(defaultHosts)
	if sb.HostNetwork {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read host /etc/hosts: %w", err)
		}
		hosts = b
	}
	var resolv []byte
	if dnsEmpty(sb.DNS) {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read host /etc/resolv.conf: %w", err)
		}
		resolv = b
	} else {
		resolv = resolvConf(sb.DNS)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{sb.HostsPath, hosts}, {sb.ResolvPath, resolv}, {sb.HostnamePath, []byte(sb.Hostname + "\n")}} {
		if err := store.WriteFileAtomic(f.path, f.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// mountShm mounts the pod's /dev/shm tmpfs.
func mountShm(path string, size int64) error {
	if mounted(path) {
		return nil
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=1777,size=%d", size)
	if err := unix.Mount("shm", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount shm at %s: %w", path, err)
	}
	return nil
}

// mounted reports whether path is a mount point (its device differs from its parent's, or it
// is an nsfs/tmpfs bind).
func mounted(path string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(path+"/..", &pst) != nil {
		return isNsfs(path)
	}
	return st.Dev != pst.Dev || isNsfs(path)
}

func isNsfs(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == unix.NSFS_MAGIC
}

// unmountAll detaches every mount stacked at path; a missing path is fine.
func unmountAll(path string) error {
	for i := 0; i < 16; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", path)
}

// createPin creates the empty file a namespace is bind-mounted on.
func createPin(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create pin %s: %w", path, err)
	}
	return f.Close()
}

// removePin unmounts a namespace pin and removes its file.
func removePin(path string) error {
	if path == "" {
		return nil
	}
	if err := unmountAll(path); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
