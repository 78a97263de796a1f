package fsutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPrivateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	base := t.TempDir()
	for name, c := range map[string]struct {
		gid      int
		mode     os.FileMode
		wantGID  uint32
		existing bool
	}{
		"plain":         {-1, 0o700, 0, false},
		"userns":        {101000, 0o710, 101000, false},
		"tighten-0711":  {-1, 0o700, 0, true},
		"userns-0755-x": {5000, 0o710, 5000, true},
	} {
		d := filepath.Join(base, name)
		if c.existing {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(d, 0o711)
		}
		if err := PrivateDir(d, c.gid); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, err := os.Lstat(d)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != c.mode || sys.Uid != 0 || sys.Gid != c.wantGID {
			t.Errorf("%s: mode %o owner %d:%d, want %o 0:%d", name, st.Mode().Perm(), sys.Uid, sys.Gid, c.mode, c.wantGID)
		}
	}
	// A symlink in its place is refused, its target untouched.
	target := t.TempDir()
	_ = os.Chmod(target, 0o755)
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(link, -1); err == nil {
		t.Error("a symlink was accepted")
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o755 {
		t.Errorf("symlink target changed to %o", st.Mode().Perm())
	}
}
