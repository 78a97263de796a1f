package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crishim/crishim/test/e2e/images"
)

// TestExecTTYUnderTmux drives an interactive `crictl exec -it` session in a real terminal
// (a detached tmux session): the shell sees the terminal's size, follows a resize of the
// window, and the session ends with the shell, whose exit code reaches crictl. A crictl
// killed mid-session takes its command with it.
func TestExecTTYUnderTmux(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the daemon and a container")
	}
	if testing.Short() {
		t.Skip("-short: builds tools and images")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux (CRISHIM_E2E=1 hack/install-deps.sh)")
	}
	root, err := images.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "_output")
	ctx, cancel := testContext(t)
	defer cancel()
	tools, err := BuildTools(ctx, root, filepath.Join(out, "bin"), &testWriter{t: t, prefix: "build: "})
	if err != nil {
		t.Fatal(err)
	}
	mirror := startRegistry(ctx, t, root, out)
	tg := startTarget(ctx, t, root, t.TempDir(), mirror)
	cr := crictl{t: t, bin: tools.Crictl, endpoint: tg.endpoint, dir: t.TempDir()}
	cid := cr.runBusybox(ctx)

	tm := tmux{t: t, sock: "crishim-e2e-" + RandomSuffix(3)}
	defer tm.run("kill-server")
	tm.run("-f", "/dev/null", "new-session", "-d", "-s", "s", "-x", "100", "-y", "30",
		strings.Join(cr.argv("exec", "-it", cid, "sh"), " "), ";", "set-option", "-g", "remain-on-exit", "on")
	tm.run("set-option", "-g", "status", "off")
	for _, size := range [][2]int{{100, 30}, {132, 45}} {
		tm.run("resize-window", "-t", "s", "-x", fmt.Sprint(size[0]), "-y", fmt.Sprint(size[1]))
		want := fmt.Sprintf("%d %d", size[1], size[0])
		tm.waitScreen(ctx, "SIZE="+want, "clear; echo SIZE=$(stty size)")
	}
	// The shell's exit code reaches the client (crictl reports it and fails).
	tm.run("send-keys", "-t", "s", "exit 3", "Enter")
	deadline := time.Now().Add(20 * time.Second)
	for strings.TrimSpace(tm.run("display-message", "-p", "-t", "s", "#{pane_dead}")) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("crictl exec did not end after the shell exited; screen:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := tm.screen(); !strings.Contains(s, "exit code 3") {
		t.Fatalf("the exit code did not reach crictl; screen:\n%s", s)
	}

	// A client that goes away takes its command with it.
	// (With a tty the terminal hangs up; without one, the daemon notices the closed connection.)
	for i, args := range [][]string{{"exec", "-it", cid, "sleep", "4242"}, {"exec", cid, "sleep", "4243"}} {
		name := fmt.Sprint("gone", i)
		tm.run("new-session", "-d", "-s", name, strings.Join(cr.argv(args...), " "))
		waitProcs(t, strings.Join(args[len(args)-2:], " "), true)
		tm.run("kill-session", "-t", name)
		waitProcs(t, strings.Join(args[len(args)-2:], " "), false)
	}
}

// waitProcs waits until a process whose command line is cmdline exists (or no longer does).
func waitProcs(t *testing.T, cmdline string, exist bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		found := false
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ") == cmdline {
				found = true
				break
			}
		}
		if found == exist {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %q: exists=%v after 20s, want %v", cmdline, found, exist)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// crictl runs crictl against one endpoint with an empty config.
type crictl struct {
	t        *testing.T
	bin      string
	endpoint string
	dir      string
}

func (c crictl) argv(args ...string) []string {
	cfg := filepath.Join(c.dir, "crictl.yaml")
	if _, err := os.Stat(cfg); err != nil {
		_ = os.WriteFile(cfg, nil, 0o600)
	}
	return append([]string{c.bin, "--config", cfg, "--runtime-endpoint", c.endpoint, "--image-endpoint", c.endpoint}, args...)
}

func (c crictl) run(ctx context.Context, args ...string) string {
	c.t.Helper()
	a := c.argv(args...)
	b, err := exec.CommandContext(ctx, a[0], a[1:]...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return strings.TrimSpace(string(b))
}

// runBusybox pulls busybox and starts a sleeping container in a new pod (removed at cleanup).
func (c crictl) runBusybox(ctx context.Context) string {
	c.t.Helper()
	const image = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	c.run(ctx, "pull", image)
	sfx := RandomSuffix(3)
	pod := map[string]any{"metadata": map[string]any{"name": "tty-" + sfx, "namespace": "e2e", "uid": "tty-" + sfx}}
	ctr := map[string]any{"metadata": map[string]any{"name": "sh"}, "image": map[string]any{"image": image},
		"command": []string{"sleep", "3600"}}
	podFile, ctrFile := filepath.Join(c.dir, "pod.json"), filepath.Join(c.dir, "ctr.json")
	for f, v := range map[string]any{podFile: pod, ctrFile: ctr} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
	podID := c.run(ctx, "runp", podFile)
	c.t.Cleanup(func() {
		_, _ = exec.Command(c.argv("rmp", "-f", podID)[0], c.argv("rmp", "-f", podID)[1:]...).CombinedOutput()
	})
	cid := c.run(ctx, "create", podID, ctrFile, podFile)
	c.run(ctx, "start", cid)
	return cid
}

// tmux drives a private tmux server.
type tmux struct {
	t    *testing.T
	sock string
}

func (m tmux) run(args ...string) string {
	m.t.Helper()
	b, err := exec.Command("tmux", append([]string{"-L", m.sock}, args...)...).CombinedOutput()
	if err != nil && args[0] != "kill-server" {
		m.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

func (m tmux) screen() string {
	b, _ := exec.Command("tmux", "-L", m.sock, "capture-pane", "-p", "-t", "s").CombinedOutput()
	return string(b)
}

// waitScreen types keys (then Enter) until the pane shows want. Typing again after a quiet
// while copes with a line editor that drops keys arriving with a SIGWINCH.
func (m tmux) waitScreen(ctx context.Context, want, keys string) {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m.run("send-keys", "-t", "s", keys, "Enter")
		for retype := time.Now().Add(3 * time.Second); time.Now().Before(retype); {
			if strings.Contains(m.screen(), want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.t.Fatalf("terminal never showed %q; screen:\n%s", want, m.screen())
		}
	}
}
