package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// restartCtr is one container of TestDaemonRestart.
type restartCtr struct {
	pod, name, id, log string
	exits              bool // exits with code 7 while the daemon is down
	created, started   int64
	lastBefore         int // last line number seen right after the restart
}

const (
	restartPods  = 10
	exitingLines = 30 // lines of an exiting container: ~3s, it exits while the daemon is down
	exitingCode  = 7
)

// TestDaemonRestart (issue 5): 10 pods × 2 containers writing numbered lines; kill -9 the
// daemon; some containers exit meanwhile; restart on the same dirs → every container listed with
// its true state and timestamps, the exit code and time of the exited ones recorded, no line
// missing from any log, logs still growing. Then everything is removed without a leak.
func TestDaemonRestart(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()

	var ctrs []*restartCtr
	var exiting []*restartCtr
	pods := map[string]*runtimeapi.PodSandboxConfig{}
	podIDs := map[string]string{}
	for i := range restartPods {
		name := fmt.Sprintf("restart-%d", i)
		cfg := e.podConfig(name)
		pods[name], podIDs[name] = cfg, e.runPod(cfg)
		c := &restartCtr{pod: name, name: "a", log: filepath.Join(cfg.LogDirectory, "a.log")}
		c.id = e.startContainer(podIDs[name], cfg, shContainer("a", counterScript(0, 0)))
		ctrs = append(ctrs, c)
		b := &restartCtr{pod: name, name: "b", log: filepath.Join(cfg.LogDirectory, "b.log"), exits: i%3 == 0}
		if b.exits {
			exiting = append(exiting, b) // started last, just before the kill
		} else {
			b.id = e.startContainer(podIDs[name], cfg, shContainer("b", counterScript(0, 0)))
		}
		ctrs = append(ctrs, b)
	}
	// A container created but not started before the kill.
	idleCfg := e.podConfig("restart-created")
	idlePod := e.runPod(idleCfg)
	idle := e.createContainer(idlePod, idleCfg, shContainer("idle", counterScript(0, 0)))
	podIDs[idleCfg.Metadata.Name] = idlePod
	// A pod whose infra process (PID 1 of its PID namespace) dies while the daemon is down.
	infraCfg := e.podConfig("restart-infra")
	infraPod := e.runPod(infraCfg)
	infraCtr := e.startContainer(infraPod, infraCfg, shContainer("victim", counterScript(0, 0)))
	podIDs[infraCfg.Metadata.Name] = infraPod
	for _, c := range exiting {
		c.id = e.startContainer(podIDs[c.pod], pods[c.pod], shContainer(c.name, counterScript(exitingLines, exitingCode)))
	}
	lastStart := time.Now()
	for _, c := range ctrs {
		st := e.containerStatus(c.id)
		if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("%s/%s before the kill: state %v, want RUNNING", c.pod, c.name, st.State)
		}
		c.created, c.started = st.CreatedAt, st.StartedAt
	}

	killed := time.Now()
	e.kill()
	t.Logf("daemon killed with SIGKILL %v after the last container start", killed.Sub(lastStart).Round(time.Millisecond))
	// Let the exiting containers finish (their last line, then a margin for the exit itself):
	// the daemon is down all that time, the others keep logging.
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range exiting {
		for {
			lines, _ := readCRILog(c.log)
			if last, _ := checkNumbered(lines); last == exitingLines-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/%s: did not write its %d lines while the daemon was down", c.pod, c.name, exitingLines)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	infraKilled := time.Now()
	if err := killInfra(infraPod); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	restarted := time.Now()
	e.start()
	t.Logf("daemon down for %v", restarted.Sub(killed).Round(time.Millisecond))

	checkAfterRestart(t, e, ctrs, killed, restarted)
	checkInfraDied(t, e, infraPod, infraCtr, infraKilled, restarted)
	checkLogsAfterRestart(t, ctrs, killed, restarted)
	checkSecondRestart(t, e, append(ids(ctrs), infraCtr))
	checkCreatedAfterRestart(t, e, idle, filepath.Join(idleCfg.LogDirectory, "idle.log"))
	checkReopenAfterRestart(t, e, ctrs[0])
	checkStopAfterRestart(t, e, ctrs[3]) // restart-1/b, running
	checkExecAfterRestart(t, e, ctrs[2]) // restart-1/a, running

	for _, name := range slices.Sorted(maps.Keys(podIDs)) {
		e.removePod(podIDs[name])
	}
	if p, c := e.listCounts(); p != 0 || c != 0 {
		t.Errorf("after removing every pod: %d pods, %d containers listed", p, c)
	}
}

// checkAfterRestart checks that the restarted daemon lists every pod and container with its
// true state, its original timestamps and, for the exited ones, the exit recorded while it was
// down.
func checkAfterRestart(t *testing.T, e *daemonEnv, ctrs []*restartCtr, killed, restarted time.Time) {
	if p, c := e.listCounts(); p != restartPods+2 || c != len(ctrs)+2 {
		t.Errorf("after the restart: %d pods, %d containers listed, want %d and %d", p, c, restartPods+2, len(ctrs)+2)
	}
	for _, c := range ctrs {
		st := e.containerStatus(c.id)
		what := c.pod + "/" + c.name
		if st.CreatedAt != c.created || st.StartedAt != c.started {
			t.Errorf("%s: created/started %d/%d after the restart, %d/%d before", what, st.CreatedAt, st.StartedAt, c.created, c.started)
		}
		if !c.exits {
			if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				t.Errorf("%s: state %v after the restart, want RUNNING", what, st.State)
			}
			continue
		}
		if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != exitingCode {
			t.Errorf("%s: state %v exit code %d after the restart, want EXITED %d", what, st.State, st.ExitCode, exitingCode)
		}
		finished := time.Unix(0, st.FinishedAt)
		if finished.Before(killed) || finished.After(restarted) {
			t.Errorf("%s: finished at %v, want between the kill (%v) and the restart (%v)", what,
				finished.Format(time.StampMicro), killed.Format(time.StampMicro), restarted.Format(time.StampMicro))
		}
		if st.Reason != "Error" {
			t.Errorf("%s: reason %q, want Error (exit code %d)", what, st.Reason, exitingCode)
		}
	}
}

// checkLogsAfterRestart checks every log: numbered lines without a gap, lines written while the
// daemon was down, and the running containers' logs still growing.
func checkLogsAfterRestart(t *testing.T, ctrs []*restartCtr, killed, restarted time.Time) {
	downLines := 0
	defer func() { t.Logf("logs: %d lines written while the daemon was down", downLines) }()
	for _, c := range ctrs {
		lines, err := readCRILog(c.log)
		if err != nil {
			t.Fatal(err)
		}
		last, err := checkNumbered(lines)
		if err != nil {
			t.Errorf("%s/%s: %v", c.pod, c.name, err)
		}
		c.lastBefore = last
		if c.exits {
			if last != exitingLines-1 {
				t.Errorf("%s/%s: last line %d, want %d", c.pod, c.name, last, exitingLines-1)
			}
			continue
		}
		down := 0
		for _, l := range lines {
			if l.Time.After(killed) && l.Time.Before(restarted) {
				down++
			}
		}
		downLines += down
		if down == 0 {
			t.Errorf("%s/%s: no line logged while the daemon was down (%d lines in all)", c.pod, c.name, len(lines))
		}
	}
	// Still growing: every running container logs new lines after the restart.
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range ctrs {
		if c.exits {
			continue
		}
		for {
			lines, err := readCRILog(c.log)
			last, cerr := checkNumbered(lines)
			if err == nil && cerr == nil && last > c.lastBefore+2 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s/%s: log not growing after the restart (last line %d, then %d; %v %v)", c.pod, c.name, c.lastBefore, last, err, cerr)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// checkCreatedAfterRestart: a container created before the kill is CREATED after the restart,
// and starts.
func checkCreatedAfterRestart(t *testing.T, e *daemonEnv, id, log string) {
	if st := e.containerStatus(id); st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("created container: state %v after the restart, want CREATED", st.State)
		return
	}
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("start, after the restart, a container created before: %v", err)
		return
	}
	waitLogLines(t, "created container", log, 3)
}

// checkReopenAfterRestart rotates a running container's log the way kubelet does (rename,
// ReopenContainerLog) through the restarted daemon: both files together miss no line.
func checkReopenAfterRestart(t *testing.T, e *daemonEnv, c *restartCtr) {
	rotated := c.log + ".1"
	if err := os.Rename(c.log, rotated); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.id}); err != nil {
		t.Errorf("reopen the log of %s/%s after the restart: %v", c.pod, c.name, err)
		return
	}
	var old, cur []logLine
	for deadline := time.Now().Add(10 * time.Second); len(cur) < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%s/%s: the reopened log %s got %d lines in 10s", c.pod, c.name, c.log, len(cur))
			return
		}
		cur, _ = readCRILog(c.log)
	}
	old, err := readCRILog(rotated)
	if err != nil {
		t.Fatal(err)
	}
	cur, err = readCRILog(c.log) // the rotated file is complete: read the new one again
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkNumbered(append(old, cur...)); err != nil {
		t.Errorf("%s/%s: rotated log + new log: %v", c.pod, c.name, err)
	}
}

// checkStopAfterRestart stops a running container through the restarted daemon.
func checkStopAfterRestart(t *testing.T, e *daemonEnv, c *restartCtr) {
	ctx, cancel := e.ctx()
	defer cancel()
	before := time.Now()
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.id, Timeout: 5}); err != nil {
		t.Errorf("stop %s/%s after the restart: %v", c.pod, c.name, err)
		return
	}
	st := e.containerStatus(c.id)
	finished := time.Unix(0, st.FinishedAt)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || finished.Before(before) || st.ExitCode != 143 {
		t.Errorf("%s/%s stopped after the restart: state %v exit code %d finished %v (stop at %v), want EXITED 143 (SIGTERM)",
			c.pod, c.name, st.State, st.ExitCode, finished, before)
	}
}

// waitLogLines waits until a log holds at least n numbered lines without a gap.
func waitLogLines(t *testing.T, what, log string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, err := readCRILog(log)
		last, cerr := checkNumbered(lines)
		if err == nil && cerr == nil && last >= n-1 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: log %s: want %d numbered lines within 10s: last %d (%v, %v)", what, log, n, last, err, cerr)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killInfra kills the infra process of a pod (the daemon is down): found by its command line.
func killInfra(podID string) error {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && args[1] == "pod-infra" && slices.Contains(args, podID) {
			return syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no infra process found for pod %s", podID)
}

// checkInfraDied: a pod whose infra died while the daemon was down is NOTREADY after the
// restart, and its container, killed with its PID namespace, EXITED at that time.
func checkInfraDied(t *testing.T, e *daemonEnv, podID, ctrID string, killed, restarted time.Time) {
	ctx, cancel := e.ctx()
	defer cancel()
	ps, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("pod whose infra died while the daemon was down: %v %v, want NOTREADY", ps.GetStatus().GetState(), err)
	}
	st := e.containerStatus(ctrID)
	finished := time.Unix(0, st.FinishedAt)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 || finished.Before(killed) || finished.After(restarted) {
		t.Errorf("container of the pod whose infra died: state %v exit code %d finished %v, want EXITED 137 between %v and %v",
			st.State, st.ExitCode, finished.Format(time.StampMicro), killed.Format(time.StampMicro), restarted.Format(time.StampMicro))
	}
}

func ids(ctrs []*restartCtr) []string {
	var out []string
	for _, c := range ctrs {
		out = append(out, c.id)
	}
	return out
}

// checkSecondRestart restarts the daemon once more (SIGTERM this time): every status is the
// same as after the first restart — reloading twice changes nothing.
func checkSecondRestart(t *testing.T, e *daemonEnv, ctrIDs []string) {
	before := map[string]string{}
	for _, id := range ctrIDs {
		st := e.containerStatus(id)
		before[id] = fmt.Sprint(st.State, st.CreatedAt, st.StartedAt, st.FinishedAt, st.ExitCode, st.Reason)
	}
	e.stop()
	e.start()
	for _, id := range ctrIDs {
		st := e.containerStatus(id)
		if after := fmt.Sprint(st.State, st.CreatedAt, st.StartedAt, st.FinishedAt, st.ExitCode, st.Reason); after != before[id] {
			t.Errorf("container %s: status %s after a second restart, %s before", id, after, before[id])
		}
	}
}

// checkExecAfterRestart runs ExecSync in a container started by the killed daemon.
func checkExecAfterRestart(t *testing.T, e *daemonEnv, c *restartCtr) {
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.id, Cmd: []string{"sh", "-c", "echo out; exit 3"}, Timeout: 10})
	if err != nil || string(resp.Stdout) != "out\n" || resp.ExitCode != 3 {
		t.Errorf("ExecSync in %s/%s after the restart: %v %v, want stdout \"out\" exit code 3", c.pod, c.name, resp, err)
	}
}
