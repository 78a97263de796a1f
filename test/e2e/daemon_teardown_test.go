package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// realCNIBinDir holds the CNI plugins the wrappers run (Debian's containernetworking-plugins).
const realCNIBinDir = "/usr/lib/cni"

// cniFaults is a CNI bin dir whose plugins are the real ones, with "bridge" behind a wrapper
// that fails ADD or DEL while a control file exists.
type cniFaults struct{ bin, ctl string }

func newCNIFaults(t *testing.T) cniFaults {
	t.Helper()
	f := cniFaults{bin: filepath.Join(t.TempDir(), "bin"), ctl: t.TempDir()}
	entries, err := os.ReadDir(realCNIBinDir)
	if err != nil {
		t.Skipf("no CNI plugins: %v", err)
	}
	if err := os.Mkdir(f.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "bridge" {
			if err := os.Symlink(filepath.Join(realCNIBinDir, e.Name()), filepath.Join(f.bin, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.install(t)
	return f
}

// install (re)writes the bridge wrapper.
func (f cniFaults) install(t *testing.T) {
	t.Helper()
	script := fmt.Sprintf(`#!/bin/sh
fail() { printf '{"cniVersion":"1.0.0","code":999,"msg":"injected %%s failure"}' "$1"; exit 1; }
[ "$CNI_COMMAND" = ADD ] && [ -e %[1]s/fail-add ] && fail ADD
[ "$CNI_COMMAND" = DEL ] && [ -e %[1]s/fail-del ] && fail DEL
exec %[2]s/bridge "$@"
`, f.ctl, realCNIBinDir)
	if err := os.WriteFile(filepath.Join(f.bin, "bridge"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func (f cniFaults) set(t *testing.T, what string, on bool) {
	t.Helper()
	p := filepath.Join(f.ctl, what)
	var err error
	if on {
		err = os.WriteFile(p, nil, 0o644)
	} else if err = os.Remove(p); os.IsNotExist(err) {
		err = nil
	}
	if err != nil {
		t.Fatal(err)
	}
}

// stopRemove stops and removes a pod, retrying each up to tries times (a kubelet retries);
// it fails the test when either never succeeds.
func (e *daemonEnv) stopRemove(id string, tries int) (stopFailures int) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	var err error
	for i := 0; i < tries; i++ {
		if _, err = e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err == nil {
			break
		}
		stopFailures++
		e.t.Logf("stop pod (try %d): %v", i+1, err)
	}
	if err != nil {
		e.t.Fatalf("stop pod %s never succeeded: %v", id, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		e.t.Fatalf("remove pod %s: %v", id, err)
	}
	return stopFailures
}

// TestDaemonPodsAlwaysRemovable (issue 14 item 6): whatever failed while a pod was made or is
// torn down — ADD and DEL failing, DEL failing for a while or for good, the plugin gone, the
// pod's monitor dead — Stop and Remove succeed (retried where the cause may be temporary),
// nothing is listed and the leak check finds nothing. A leftover attachment whose DEL fails
// does not hold the socket back at the next start: the CNI GC runs after serving starts and
// releases it once DEL works again.
func TestDaemonPodsAlwaysRemovable(t *testing.T) {
	var f cniFaults
	e := newDaemonEnvWith(t, func(c *ShimConfig) {
		f = newCNIFaults(t)
		c.CNIBinDirs = []string{f.bin}
	})
	e.pullBusybox()
	baseline := treeFiles(e.cfg.RootDir, e.cfg.StateDir)
	ctx, cancel := e.ctx()
	defer cancel()

	// ADD fails and so does the DEL that undoes it: the run fails, nothing stays listed.
	f.set(t, "fail-add", true)
	f.set(t, "fail-del", true)
	if _, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: e.podConfig("addfail")}); err == nil {
		t.Fatal("RunPodSandbox succeeded with a failing ADD")
	}
	f.set(t, "fail-add", false)
	if p, _ := e.listCounts(); p != 0 {
		t.Errorf("%d pods listed after a failed run whose DEL failed too, want 0", p)
	}

	// DEL fails for a while: Stop fails, then succeeds once the cause is gone.
	id := e.runPod(e.podConfig("delflaky"))
	f.set(t, "fail-del", true)
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err == nil {
		t.Error("StopPodSandbox succeeded while DEL fails (the first failure is returned for a retry)")
	}
	f.set(t, "fail-del", false)
	e.stopRemove(id, 1)

	// DEL fails for good: Stop fails a bounded number of times, then gives up on the network.
	id = e.runPod(e.podConfig("delstuck"))
	f.set(t, "fail-del", true)
	failures := e.stopRemove(id, 5)
	t.Logf("a pod whose DEL always fails: stop failed %d times, then succeeded", failures)

	// The plugin is gone: Stop and Remove succeed at once.
	f.set(t, "fail-del", false)
	id = e.runPod(e.podConfig("noplugin"))
	if err := os.Remove(filepath.Join(f.bin, "bridge")); err != nil {
		t.Fatal(err)
	}
	if n := e.stopRemove(id, 1); n != 0 {
		t.Errorf("stop failed %d times with the plugin missing, want 0", n)
	}
	f.install(t)

	// The pod's monitor is dead: Stop and Remove succeed.
	pod := e.podConfig("deadmon")
	id = e.runPod(pod)
	e.startContainer(id, pod, sleeper())
	killMonitor(t, id)
	e.stopRemove(id, 1)
	if p, c := e.listCounts(); p != 0 || c != 0 {
		t.Errorf("%d pods, %d containers listed after removing them all", p, c)
	}

	// Two attachments were given up on (the stuck DEL, the missing plugin); restart with DEL
	// still failing: the socket is served before the GC, which does not block it.
	f.set(t, "fail-del", true)
	e.stop()
	offset := logSize(t, e.logPath)
	start := time.Now()
	e.start()
	t.Logf("time to serve with leftover attachments whose DEL fails: %v", time.Since(start).Round(time.Millisecond))
	checkServedBeforeGC(t, e.logPath, offset)
	f.set(t, "fail-del", false)
	e.stop()
	offset = logSize(t, e.logPath)
	e.start()
	waitLogAfter(t, e.logPath, offset)
	for _, leak := range e.liveLeaks(nil, baseline) {
		t.Errorf("left behind after the GC with DEL working: %s", leak)
	}
}

// killMonitor kills the monitor process of a pod.
func killMonitor(t *testing.T, podID string) {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		args := strings.Split(string(b), "\x00")
		for i, a := range args {
			if a == "--pod" && i+1 < len(args) && args[i+1] == podID && strings.Contains(string(b), "monitor") {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("no monitor process for pod %s", podID)
}

const gcLogLine = "CNI garbage collection at start"

// logSize is the current size of the daemon's log: what a restart appends comes after it.
func logSize(t *testing.T, logPath string) int {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// waitLogAfter waits until the log, from offset on, has the start-up GC's line; it returns
// that part of the log.
func waitLogAfter(t *testing.T, logPath string, offset int) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(logPath)
		if len(b) > offset && strings.Contains(string(b[offset:]), gcLogLine) {
			return string(b[offset:])
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s after its last start", gcLogLine, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkServedBeforeGC: in what the daemon logged since offset (its last start), the socket was
// served before the start-up CNI garbage collection ended.
func checkServedBeforeGC(t *testing.T, logPath string, offset int) {
	t.Helper()
	s := waitLogAfter(t, logPath, offset)
	served := strings.Index(s, "crishim serving")
	if gc := strings.Index(s, gcLogLine); served < 0 || gc < served {
		t.Errorf("the start-up CNI garbage collection ended before the daemon served its socket")
	}
}
