package e2e

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestDaemonFailuresCleanUp (issue 5: a failed create undoes what it did): a pod whose network
// cannot be set up (its /29 subnet is exhausted) fails with a known code and leaves nothing; a
// container whose command does not exist fails to start, reports it, and is removed without a
// trace.
func TestDaemonFailuresCleanUp(t *testing.T) {
	e := newDaemonEnvWith(t, func(c *ShimConfig) {
		c.CNISubnet = strings.TrimSuffix(c.CNISubnet, "/24") + "/29" // 5 pod addresses
	})
	e.pullBusybox()
	baseline := treeFiles(e.cfg.RootDir, e.cfg.StateDir)

	var ok []string
	var failure error
	for i := range 10 {
		ctx, cancel := e.ctx()
		resp, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: e.podConfig(fmt.Sprintf("full-%d", i))})
		cancel()
		if err != nil {
			failure = err
			break
		}
		ok = append(ok, resp.PodSandboxId)
	}
	if failure == nil {
		t.Fatalf("10 pods in a /29 subnet: no failure")
	}
	t.Logf("pod %d in a /29: %s", len(ok)+1, describe(failure))
	if code := codeOf(failure); code == codes.Unknown || code == codes.Internal {
		t.Errorf("exhausted pod network: code %v, want a known kind (ResourceExhausted, Unavailable…)", code)
	}
	if p, _ := e.listCounts(); p != len(ok) {
		t.Errorf("%d pods listed after the failed one, want the %d that ran", p, len(ok))
	}

	checkMissingCommand(t, e, ok[0], e.podConfig("full-0"))
	for _, id := range ok {
		e.removePod(id)
	}
	for _, leak := range e.liveLeaks(nil, baseline) {
		t.Errorf("left behind while the daemon runs: %s", leak)
	}
}

// checkMissingCommand: a container whose command is not in the image fails at create (like
// CRI-O: libcontainer checks the executable when it creates the container) or at start (like
// containerd), with InvalidArgument naming the command, and leaves nothing listed running.
func checkMissingCommand(t *testing.T, e *daemonEnv, podID string, pod *runtimeapi.PodSandboxConfig) {
	cfg := shContainer("nocmd", "")
	cfg.Command = []string{"/no-such-command"}
	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err == nil {
		_, err = e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId})
		if st := e.containerStatus(resp.ContainerId); st.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("a container whose command is missing is RUNNING")
		}
		defer func() {
			if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: resp.ContainerId}); err != nil {
				t.Errorf("remove the container that failed to start: %v", err)
			}
		}()
	} else if _, c := e.listCounts(); c != 0 {
		t.Errorf("the failed create left %d containers listed", c)
	}
	t.Logf("missing command: %s", describe(err))
	if werr := wantCode(err, codes.InvalidArgument, "/no-such-command"); werr != nil {
		t.Errorf("missing command: %v", werr)
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }
