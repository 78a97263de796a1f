package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRootShmUnreachableForOthers: the pod's shm tmpfs (mode 1777 for the containers) cannot
// be reached by a plain host user: no stat, no listing, no planting a file.
func TestRootShmUnreachableForOthers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("shm"))
	if err != nil {
		t.Fatal(err)
	}
	// Like /run: every parent searchable by all.
	for d := filepath.Dir(sb.ShmPath); d != "/" && d != "/tmp"; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 && !strings.HasPrefix(d, filepath.Dir(sb.ShmPath)) {
			_ = os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	if err := os.WriteFile(filepath.Join(sb.ShmPath, "seg"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"/usr/bin/stat", sb.ShmPath}, {"/usr/bin/stat", filepath.Join(sb.ShmPath, "seg")},
		{"/bin/ls", sb.ShmPath}, {"/usr/bin/touch", filepath.Join(sb.ShmPath, "planted")}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("as nobody, %v: err %v, output %q; want permission denied", argv, err, out)
		}
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}
