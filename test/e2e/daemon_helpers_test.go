package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pullBusybox pulls the fixture busybox through the mirror.
func (e *daemonEnv) pullBusybox() {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef}}); err != nil {
		e.t.Fatalf("pull %s: %v", busyboxRef, err)
	}
}

// podConfig returns a pod configuration with a log directory of its own (created, as kubelet
// does).
func (e *daemonEnv) podConfig(name string) *runtimeapi.PodSandboxConfig {
	logDir := filepath.Join(e.dir, "logs", name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: name + "-" + e.sfx, Namespace: "e2e-daemon"},
		Hostname:     name,
		LogDirectory: logDir,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
}

// runPod runs a pod and returns its id.
func (e *daemonEnv) runPod(cfg *runtimeapi.PodSandboxConfig) string {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		e.t.Fatalf("run pod %s: %v", cfg.Metadata.Name, err)
	}
	return resp.PodSandboxId
}

// shContainer returns a busybox container configuration running script with sh -c; its log
// is <pod log dir>/<name>.log.
func shContainer(name, script string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: busyboxRef},
		Command:  []string{"sh", "-c", script},
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{},
	}
}

// createContainer creates a container in a pod and returns its id.
func (e *daemonEnv) createContainer(podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err != nil {
		e.t.Fatalf("create container %s in pod %s: %v", cfg.Metadata.Name, pod.Metadata.Name, err)
	}
	return resp.ContainerId
}

// startContainer creates and starts a container in a pod and returns its id.
func (e *daemonEnv) startContainer(podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	e.t.Helper()
	id := e.createContainer(podID, pod, cfg)
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		e.t.Fatalf("start container %s in pod %s: %v", cfg.Metadata.Name, pod.Metadata.Name, err)
	}
	return id
}

// containerStatus returns a container's status, failing the test on an error.
func (e *daemonEnv) containerStatus(id string) *runtimeapi.ContainerStatus {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		e.t.Fatalf("container status %s: %v", id, err)
	}
	return resp.Status
}

// removePod stops and removes a pod, failing the test on an error.
func (e *daemonEnv) removePod(id string) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		e.t.Fatalf("stop pod %s: %v", id, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		e.t.Fatalf("remove pod %s: %v", id, err)
	}
}

// listCounts returns how many pods and containers the daemon lists.
func (e *daemonEnv) listCounts() (pods, containers int) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	p, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		e.t.Fatalf("list pods: %v", err)
	}
	c, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		e.t.Fatalf("list containers: %v", err)
	}
	return len(p.Items), len(c.Containers)
}

// counterScript prints "line N" for N = 0, 1, ... every 100ms; limit > 0 stops after limit
// lines and exits with code exit.
func counterScript(limit, exit int) string {
	if limit <= 0 {
		return `i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done`
	}
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo line $i; i=$((i+1)); sleep 0.1; done; exit %d`, limit, exit)
}

// logLine is one line of a CRI log file.
type logLine struct {
	Time    time.Time
	Stream  string
	Partial bool
	Text    string
}

// readCRILog parses a CRI log file: `<RFC3339Nano> <stdout|stderr> <P|F> <text>` per line.
func readCRILog(path string) ([]logLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("%s:%d: not a CRI log line: %q", path, n, sc.Text())
		}
		ts, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: timestamp: %v", path, n, err)
		}
		if parts[1] != "stdout" && parts[1] != "stderr" || parts[2] != "P" && parts[2] != "F" {
			return nil, fmt.Errorf("%s:%d: bad stream or tag: %q", path, n, sc.Text())
		}
		lines = append(lines, logLine{Time: ts, Stream: parts[1], Partial: parts[2] == "P", Text: parts[3]})
	}
	return lines, sc.Err()
}

// checkNumbered checks that a log holds "line 0", "line 1", ... with no gap, duplicate or
// foreign line, all full stdout lines; it returns the last number (-1 for an empty log).
func checkNumbered(lines []logLine) (int, error) {
	last := -1
	for i, l := range lines {
		n, err := strconv.Atoi(strings.TrimPrefix(l.Text, "line "))
		if err != nil || !strings.HasPrefix(l.Text, "line ") || l.Stream != "stdout" || l.Partial {
			return last, fmt.Errorf("log line %d: unexpected %+v", i+1, l)
		}
		if n != last+1 {
			return last, fmt.Errorf("log line %d: %q follows line %d: lines %d..%d missing or repeated", i+1, l.Text, last, last+1, n-1)
		}
		last = n
	}
	return last, nil
}

// wantCode checks a CRI call's error: its gRPC code and that the message contains each of
// words (case-insensitive).
func wantCode(err error, code codes.Code, words ...string) error {
	st, _ := status.FromError(err)
	if st.Code() != code {
		return fmt.Errorf("got %v (%q), want %v", st.Code(), st.Message(), code)
	}
	for _, w := range words {
		if !strings.Contains(strings.ToLower(st.Message()), strings.ToLower(w)) {
			return fmt.Errorf("got %v %q: the message does not name %q", st.Code(), st.Message(), w)
		}
	}
	return nil
}

// describe returns "OK" or the error's gRPC code and message.
func describe(err error) string {
	if err == nil {
		return "OK"
	}
	st, _ := status.FromError(err)
	return st.Code().String() + ": " + st.Message()
}
