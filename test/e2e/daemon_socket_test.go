package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestDaemonSocketAndConfig (issue 3): a second daemon on a socket in use, or on a root dir in
// use, is refused with a message naming it; bad configuration files stop the daemon at start
// naming the file, the key and the reason; SIGTERM stops the daemon and leaves its containers
// running, and the next daemon finds them.
func TestDaemonSocketAndConfig(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()

	t.Run("socket in use", func(t *testing.T) {
		out, err := runShim(e.shim, filepath.Join(e.dir, "config.toml"))
		if err := wantFailure(out, err, e.cfg.Socket); err != nil {
			t.Error(err)
		}
		t.Logf("refused: %s", strings.TrimSpace(out))
		e.checkServing(t)
	})
	t.Run("root dir in use", func(t *testing.T) {
		cfg := e.cfg
		cfg.Socket = filepath.Join(e.dir, "other.sock")
		path := filepath.Join(e.dir, "other.toml")
		if err := os.WriteFile(path, []byte(cfg.TOML()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runShim(e.shim, path)
		if err := wantFailure(out, err, e.cfg.RootDir); err != nil {
			t.Error(err)
		}
		t.Logf("refused: %s", strings.TrimSpace(out))
		if fileExists(cfg.Socket) {
			t.Errorf("the refused daemon left its socket %s", cfg.Socket)
		}
		e.checkServing(t)
	})
	t.Run("bad config", func(t *testing.T) { testBadConfigs(t, e.shim) })
	t.Run("SIGTERM keeps containers", func(t *testing.T) { testSIGTERM(t, e) })
}

// checkServing checks that the daemon still answers on its socket.
func (e *daemonEnv) checkServing(t *testing.T) {
	t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	v, err := e.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "crishim" {
		t.Errorf("the first daemon does not answer any more: %v %v", v, err)
	}
}

// runShim runs `shim daemon --config path` for at most 20s and returns its output.
func runShim(shim, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, shim, "daemon", "--config", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("still running after 20s (killed): it should have refused to start")
	}
	return string(out), err
}

// wantFailure checks that the daemon exited with a non-zero code and that its output names
// every word.
func wantFailure(out string, err error, words ...string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
		return fmt.Errorf("exit status %v, want a non-zero exit code; output:\n%s", err, out)
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			return fmt.Errorf("the message does not name %q:\n%s", w, out)
		}
	}
	return nil
}

// testBadConfigs: each bad file stops the daemon before it creates anything.
func testBadConfigs(t *testing.T, shim string) {
	dir := t.TempDir()
	base := func(root string) string {
		return fmt.Sprintf("root_dir = %q\nstate_dir = %q\nsocket = %q\n", root,
			filepath.Join(dir, "state"), filepath.Join(dir, "state", "s.sock"))
	}
	root := filepath.Join(dir, "root")
	cases := []struct {
		name, content string
		words         []string
	}{
		{"unknown top-level key", base(root) + "bogus_key = 1\n", []string{"bogus_key", "unknown"}},
		{"unknown key in a section", base(root) + "[runtime]\nno_such_key = true\n", []string{"runtime.no_such_key", "unknown"}},
		{"unknown section", base(root) + "[no_such_section]\nx = 1\n", []string{"no_such_section", "unknown"}},
		{"bad log level", base(root) + "log_level = \"loud\"\n", []string{"log_level", "loud"}},
		{"wrong type", base(root) + "[runtime]\nlog_line_max_bytes = \"big\"\n", []string{"runtime.log_line_max_bytes", "string"}},
		{"value out of range", base(root) + "[runtime]\nlog_line_max_bytes = 10\n", []string{"runtime.log_line_max_bytes", "10"}},
		{"bad duration", base(root) + "[sandbox]\nrun_timeout = \"forever\"\n", []string{"sandbox.run_timeout", "forever"}},
		{"bad subnet", base(root) + "[cni]\ndefault_subnet = \"10.1.2.3/99\"\n", []string{"cni.default_subnet", "10.1.2.3/99"}},
		{"relative root dir", base("relative/root"), []string{"root_dir", "relative/root"}},
		{"syntax error", base(root) + "log_level = \n", []string{"line 4"}},
	}
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("config-%d.toml", i))
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runShim(shim, path)
		if err := wantFailure(out, err, append([]string{path}, c.words...)...); err != nil {
			t.Errorf("%s: %v", c.name, err)
		} else {
			t.Logf("%s: %s", c.name, strings.TrimSpace(out))
		}
		if fileExists(root) || fileExists(filepath.Join(dir, "state")) {
			t.Errorf("%s: the refused daemon created its dirs", c.name)
			_ = os.RemoveAll(root)
			_ = os.RemoveAll(filepath.Join(dir, "state"))
		}
	}
	missing := filepath.Join(dir, "missing.toml")
	out, err := runShim(shim, missing)
	if err := wantFailure(out, err, missing); err != nil {
		t.Errorf("missing config file: %v", err)
	}
}

// testSIGTERM: SIGTERM stops the daemon cleanly; the container keeps running and logging; the
// next daemon lists it RUNNING with its pod READY.
func testSIGTERM(t *testing.T, e *daemonEnv) {
	pod := e.podConfig("sigterm")
	podID := e.runPod(pod)
	ctrID := e.startContainer(podID, pod, shContainer("counter", counterScript(0, 0)))
	log := filepath.Join(pod.LogDirectory, "counter.log")
	before := e.containerStatus(ctrID)

	stopped := time.Now()
	e.stop() // fails the test unless the daemon exits 0 after SIGTERM
	t.Logf("daemon stopped by SIGTERM in %v", time.Since(stopped).Round(time.Millisecond))
	if fileExists(e.cfg.Socket) {
		t.Errorf("socket %s still there after a clean stop", e.cfg.Socket)
	}
	// Logging goes on without the daemon.
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, err := readCRILog(log)
		if err == nil && len(lines) > 0 && lines[len(lines)-1].Time.After(stopped.Add(time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's log did not grow after the daemon stopped (%d lines, %v)", len(lines), err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	e.start()
	after := e.containerStatus(ctrID)
	if after.State != runtimeapi.ContainerState_CONTAINER_RUNNING || after.StartedAt != before.StartedAt {
		t.Errorf("after the restart: state %v started at %d, want RUNNING started at %d", after.State, after.StartedAt, before.StartedAt)
	}
	ctx, cancel := e.ctx()
	defer cancel()
	ps, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("pod after the restart: %v %v, want READY", ps.GetStatus().GetState(), err)
	}
	lines, err := readCRILog(log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkNumbered(lines); err != nil {
		t.Errorf("log after a SIGTERM restart: %v", err)
	}
	e.removePod(podID)
}
