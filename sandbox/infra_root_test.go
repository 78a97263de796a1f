package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkInfraConfined is what a container of a shared-PID pod can do to its PID 1 (the infra)
// with CAP_SYS_PTRACE, done from the host as root (a stronger attacker): the infra's root must
// not reach the host filesystem, its mountinfo must show no host mount, and it must hold no
// privilege: uid/gid wantID, no capability in any set, no_new_privs.
func checkInfraConfined(t *testing.T, pid int, wantID string) {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "host-marker")
	if err := os.WriteFile(marker, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", pid, marker)); err == nil {
		t.Errorf("host file read through /proc/%d/root: %q", pid, b)
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/root%s.w", pid, marker), []byte("x"), 0o644); err == nil {
		t.Errorf("host file written through /proc/%d/root", pid)
	}
	if _, err := os.Stat(marker + ".w"); err == nil {
		t.Errorf("a file appeared on the host through /proc/%d/root", pid)
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(mi)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], " / / ro,") {
		t.Errorf("infra mountinfo shows more than its own read-only root:\n%s", mi)
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(st), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	want := map[string]string{
		"Uid": strings.Repeat(wantID+" ", 3) + wantID, "Gid": strings.Repeat(wantID+" ", 3) + wantID,
		"Groups": "", "CapInh": "0000000000000000", "CapPrm": "0000000000000000",
		"CapEff": "0000000000000000", "CapBnd": "0000000000000000", "CapAmb": "0000000000000000",
		"NoNewPrivs": "1",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("infra %s = %q, want %q", k, fields[k], v)
		}
	}
	// Every thread of the infra, not only the leader, holds no capability.
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		for _, k := range []string{"CapPrm:", "CapEff:", "CapAmb:"} {
			if i := strings.Index(string(b), k); i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(b[i+len(k):])), "0000000000000000") {
				t.Errorf("infra thread %s has %s %s", task.Name(), k, strings.Fields(string(b[i+len(k):]))[0])
			}
		}
	}
}

// TestRootInfraConfined: the infra of a shared-PID pod (PID 1 of every container) has its own
// empty read-only root and no privilege, and still reaps and stops on SIGTERM.
func TestRootInfraConfined(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	c := podConfig("confined")
	c.Namespaces.PID = NamespaceModePod
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	checkInfraConfined(t, sb.InfraPID, "65535")
	if err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if alive(sb.InfraPID, m.pods[sb.ID].rec.InfraStart) {
		t.Fatal("infra alive after stop")
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}
