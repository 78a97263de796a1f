package runtime

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// rssKiB reads VmRSS of a process.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var n int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &n)
			return n
		}
	}
	return -1
}

// TestMonitorRSS reports the monitor's memory with 1 and 5 containers (a figure, not an
// assertion; run with -v).
func TestMonitorRSS(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	if v := os.Getenv("CRISHIM_TEST_MONITOR_MEMLIMIT"); v != "" {
		m.cfg.MonitorMemoryLimit = v
	}
	if bin := os.Getenv("CRISHIM_TEST_MONITOR"); bin != "" {
		m.exe = bin // e.g. a build of cmd/crishim-monitor
	}
	pod := newTestPod(t)
	startSleeper(t, m, pod, nil)
	pid := monitorPid(t, m, pod.id)
	time.Sleep(1500 * time.Millisecond)
	one := rssKiB(pid)
	for i := 0; i < 4; i++ {
		startSleeper(t, m, pod, nil)
	}
	time.Sleep(1500 * time.Millisecond) // the monitor trims its heap 1 s after the last create
	five := rssKiB(pid)
	t.Logf("monitor RSS: 1 container %d KiB, 5 containers %d KiB (%s)", one, five, smapsRollup(pid))
	if one <= 0 || five <= 0 {
		t.Fatalf("could not read the monitor's RSS")
	}
}

func smapsRollup(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"Rss:", "Pss:", "Shared_Clean:", "Private_Clean:", "Private_Dirty:", "Anonymous:"} {
			if strings.HasPrefix(l, k) {
				keep = append(keep, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "Threads:") {
			keep = append(keep, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(keep, ", ")
}

// TestMonitorPSSManyPods reports the average proportional memory (PSS) of 5 pod monitors
// with one container each: what a pod costs once the binary's pages are shared (run -v).
func TestMonitorPSSManyPods(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	if bin := os.Getenv("CRISHIM_TEST_MONITOR"); bin != "" {
		m.exe = bin
	}
	var pids []int
	for i := 0; i < 5; i++ {
		pod := newTestPod(t)
		startSleeper(t, m, pod, nil)
		pids = append(pids, monitorPid(t, m, pod.id))
	}
	time.Sleep(1500 * time.Millisecond)
	var pss, rss, anon int
	for _, p := range pids {
		pss += smapsField(p, "Pss:")
		rss += smapsField(p, "Rss:")
		anon += smapsField(p, "Anonymous:")
	}
	t.Logf("5 monitors, 1 container each: average RSS %d KiB, PSS %d KiB, anonymous %d KiB", rss/5, pss/5, anon/5)
}

func smapsField(pid int, key string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			var n int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, key)), "%d", &n)
			return n
		}
	}
	return 0
}
