package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

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
