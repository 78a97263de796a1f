package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOOMCounters checks the oom_kill counters the monitor reads at exit, over fake cgroup
// v1 (memory.oom_control) and v2 (memory.events) files.
func TestOOMCounters(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "memory.oom_control")
	v2 := filepath.Join(dir, "memory.events")
	os.WriteFile(v1, []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"), 0o644)
	os.WriteFile(v2, []byte("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"), 0o644)
	if n := counter(v1, "oom_kill"); n != 1 {
		t.Errorf("v1 oom_kill = %d, want 1", n)
	}
	if n := counter(v2, "oom_kill"); n != 2 {
		t.Errorf("v2 oom_kill = %d, want 2", n)
	}
	if n := counter(v2, "oom_kill_missing"); n != 0 {
		t.Errorf("absent key = %d", n)
	}
	if n := counter(filepath.Join(dir, "gone"), "oom_kill"); n != 0 {
		t.Errorf("absent file = %d", n)
	}
}
