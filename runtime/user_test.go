package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

func fakeRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	_ = os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(
		"root:x:0:0:root:/root:/bin/sh\ndefault-user:x:1000:1000::/home:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "etc/group"), []byte(
		"root:x:0:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\nwww-data:x:33:\ng1004:x:1004:\n"), 0o644)
	return root
}

func i64(v int64) *int64 { return &v }

func TestResolveUser(t *testing.T) {
	root := fakeRootfs(t)
	for _, tc := range []struct {
		name      string
		sec       Security
		imageUser string
		want      User
		err       error
	}{
		{"root default", Security{}, "", User{0, 0, []uint32{0}}, nil},
		{"image uid", Security{}, "1002", User{1002, 0, []uint32{0}}, nil},
		{"image name", Security{}, "www-data", User{33, 33, []uint32{33}}, nil},
		{"image uid:gid", Security{}, "1003:1004", User{1003, 1004, []uint32{1004}}, nil},
		{"image name:group", Security{}, "www-data:g1004", User{33, 1004, []uint32{1004}}, nil},
		{"merge", Security{RunAsUser: i64(1000), SupplementalGroups: []int64{1234}}, "", User{1000, 1000, []uint32{1000, 1234, 50000}}, nil},
		{"strict", Security{RunAsUser: i64(1000), SupplementalGroups: []int64{1234}, SupplementalGroupsPolicy: SupplementalGroupsStrict}, "", User{1000, 1000, []uint32{1000, 1234}}, nil},
		{"run as username", Security{RunAsUsername: "www-data"}, "1002", User{33, 33, []uint32{33}}, nil},
		{"run as group", Security{RunAsUser: i64(33), RunAsGroup: i64(7)}, "", User{33, 7, []uint32{7}}, nil},
		{"group without user", Security{RunAsGroup: i64(7)}, "", User{}, errdefs.ErrInvalidArgument},
		{"unknown name", Security{RunAsUsername: "nobody-here"}, "", User{}, errdefs.ErrInvalidArgument},
		{"negative uid", Security{RunAsUser: i64(-1)}, "", User{}, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveUser(root, tc.sec, tc.imageUser)
			if tc.err != nil {
				if !isKind(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got.UID != tc.want.UID || got.GID != tc.want.GID || !slices.Equal(got.SupplementalGroups, tc.want.SupplementalGroups) {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

// TestResolveUserNoEscape: /etc/passwd being a symlink that points outside the rootfs must
// be resolved inside it.
func TestResolveUserNoEscape(t *testing.T) {
	outside := t.TempDir()
	_ = os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644)
	root := t.TempDir()
	_ = os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	rel, _ := filepath.Rel(filepath.Join(root, "etc"), filepath.Join(outside, "passwd"))
	for _, target := range []string{filepath.Join(outside, "passwd"), rel} {
		_ = os.Remove(filepath.Join(root, "etc/passwd"))
		if err := os.Symlink(target, filepath.Join(root, "etc/passwd")); err != nil {
			t.Fatal(err)
		}
		if u, err := resolveUser(root, Security{}, "evil"); err == nil {
			t.Fatalf("symlink %q: resolved a user from outside the rootfs: %+v", target, u)
		}
	}
}

// TestResolveUserHostileFiles: an image whose /etc/passwd or /etc/group is a FIFO, a device,
// a directory, a symlink (out of the rootfs) or a huge file is refused at once with
// InvalidArgument, whatever user is asked for (a FIFO used to block CreateContainer forever).
func TestResolveUserHostileFiles(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "hostfile")
	_ = os.WriteFile(outside, []byte("evil:x:4242:4242::/:/bin/sh\nevil:x:4242:\n"), 0o644)
	kinds := map[string]func(t *testing.T, p string) error{
		"fifo":    func(t *testing.T, p string) error { return unix.Mkfifo(p, 0o644) },
		"device":  func(t *testing.T, p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))) },
		"dir":     func(t *testing.T, p string) error { return os.Mkdir(p, 0o755) },
		"symlink": func(t *testing.T, p string) error { return os.Symlink(outside, p) },
		"huge": func(t *testing.T, p string) error {
			if err := os.WriteFile(p, []byte("root:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
				return err
			}
			return os.Truncate(p, 64<<20) // sparse: costs no disk
		},
	}
	for kind, mk := range kinds {
		for _, file := range []string{"passwd", "group"} {
			for _, user := range []string{"1000", "root"} {
				t.Run(kind+"/"+file+"/"+user, func(t *testing.T) {
					root := fakeRootfs(t)
					p := filepath.Join(root, "etc", file)
					_ = os.Remove(p)
					if err := mk(t, p); err != nil {
						if kind == "device" && os.Geteuid() != 0 {
							t.Skip("mknod needs root")
						}
						t.Fatal(err)
					}
					done := make(chan error, 1)
					go func() { _, err := resolveUser(root, Security{}, user); done <- err }()
					select {
					case err := <-done:
						if !isKind(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "/etc/"+file) {
							t.Fatalf("err = %v, want InvalidArgument naming /etc/%s", err, file)
						}
					case <-time.After(20 * time.Second): // a hang, not a speed: the fix answers in microseconds
						t.Fatal("resolveUser blocked on a hostile file")
					}
				})
			}
		}
	}
}
