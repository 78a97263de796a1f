package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestDaemonKillDuringOps (issue 5, restart safety): the daemon is killed with SIGKILL while
// pods and containers are being created, started, stopped and removed. After each restart
// every listed pod and container answers its status, half-finished ones can be finished or
// removed, and once everything is removed nothing is left.
func TestDaemonKillDuringOps(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()
	baseline := treeFiles(e.cfg.RootDir, e.cfg.StateDir)

	var seq atomic.Int64
	for round, delay := range []time.Duration{1500 * time.Millisecond, 2300 * time.Millisecond, 3100 * time.Millisecond} {
		var ops atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		cut := make([]*cutOp, 4)
		for w := range cut {
			wg.Go(func() { cut[w] = churn(e, &seq, &ops, stop) })
		}
		time.Sleep(delay)
		e.kill()
		close(stop)
		wg.Wait()
		e.start()
		pods, ctrs := e.listCounts()
		t.Logf("round %d: killed after %v and %d finished operations; restart lists %d pods, %d containers",
			round, delay, ops.Load(), pods, ctrs)
		for _, op := range cut {
			e.retryCut(t, op)
		}
		e.checkAllAnswer(t)
	}
	if n := e.removeAllPods(); n == 0 {
		t.Errorf("no pod was listed after the restarts")
	}
	if p, c := e.listCounts(); p != 0 || c != 0 {
		t.Errorf("after removing every pod: %d pods, %d containers listed", p, c)
	}
	for _, leak := range e.liveLeaks(nil, baseline) {
		t.Errorf("left behind while the daemon runs: %s", leak)
	}
}

// cutOp is the request a churn worker had in flight when the daemon was killed.
type cutOp struct {
	rpc   string
	pod   *runtimeapi.PodSandboxConfig
	podID string
	err   error
}

// churn runs pods through their life until stop is closed or the daemon is gone: run, create,
// start; every other pod is then stopped and removed. It returns the request the kill cut.
func churn(e *daemonEnv, seq, ops *atomic.Int64, stop chan struct{}) *cutOp {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n := seq.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		op := churnOne(ctx, e, n)
		cancel()
		if op != nil {
			return op // the daemon was killed
		}
		ops.Add(1)
	}
}

func churnOne(ctx context.Context, e *daemonEnv, n int64) *cutOp {
	cfg := e.podConfig(fmt.Sprintf("churn-%d", n))
	rt := e.rt
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return &cutOp{rpc: "RunPodSandbox", pod: cfg, err: err}
	}
	ctr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId, Config: shContainer("c", "exec sleep 3600"), SandboxConfig: cfg})
	if err != nil {
		return &cutOp{rpc: "CreateContainer", pod: cfg, podID: pod.PodSandboxId, err: err}
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		return &cutOp{rpc: "StartContainer", pod: cfg, podID: pod.PodSandboxId, err: err}
	}
	if n%2 == 0 {
		return nil
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		return &cutOp{rpc: "StopPodSandbox", pod: cfg, podID: pod.PodSandboxId, err: err}
	}
	if _, err = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		return &cutOp{rpc: "RemovePodSandbox", pod: cfg, podID: pod.PodSandboxId, err: err}
	}
	return nil
}

// retryCut retries, as kubelet would, the request the kill cut. It must succeed (an identical
// RunPodSandbox or CreateContainer the killed daemon had finished gets the holder's id), or
// for the other RPCs get AlreadyExists naming a holder that is listed (kubelet then sees it,
// and a removal frees the name): a name is never reserved for good.
func (e *daemonEnv) retryCut(t *testing.T, op *cutOp) {
	if op == nil {
		return
	}
	ctx, cancel := e.ctx()
	defer cancel()
	retry := func() error {
		switch op.rpc {
		case "RunPodSandbox":
			resp, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: op.pod})
			if err != nil {
				return err
			}
			st, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: resp.PodSandboxId})
			if err == nil && st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
				err = fmt.Errorf("pod %s is %v", resp.PodSandboxId, st.Status.State)
			}
			return err
		case "CreateContainer":
			_, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
				PodSandboxId: op.podID, Config: shContainer("c", "exec sleep 3600"), SandboxConfig: op.pod})
			return err
		default: // StopPodSandbox, RemovePodSandbox
			if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: op.podID}); err != nil {
				return err
			}
			_, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: op.podID})
			return err
		}
	}
	what := fmt.Sprintf("retry of %s for pod %s, cut by the kill (%v)", op.rpc, op.pod.Metadata.Name, describe(op.err))
	err := retry()
	if codeOf(err) == codes.AlreadyExists && (op.rpc == "CreateContainer" || op.rpc == "RunPodSandbox") {
		// The request hash persisted with the object makes an identical retry get its id.
		t.Errorf("%s: %v: an identical retry must get the holder's id", what, err)
		return
	}
	if codeOf(err) == codes.AlreadyExists {
		holder := holderID(err, op.podID)
		if !e.listed(holder) {
			t.Errorf("%s: %v: the holder %q is not listed: the name is reserved for good", what, err, holder)
			return
		}
		e.removeObject(holder)
		t.Logf("%s: AlreadyExists naming %s, which is listed; removed it", what, holder[:12])
		err = retry()
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
	} else {
		t.Logf("%s: ok", what)
	}
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// holderID returns the last full id in an AlreadyExists message that is not exclude.
func holderID(err error, exclude string) string {
	var id string
	for _, m := range hexID.FindAllString(err.Error(), -1) {
		if m != exclude {
			id = m
		}
	}
	return id
}

// listed reports whether id is a listed pod or container.
func (e *daemonEnv) listed(id string) bool {
	if id == "" {
		return false
	}
	ctx, cancel := e.ctx()
	defer cancel()
	pods, err1 := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{Id: id}})
	ctrs, err2 := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}})
	return err1 == nil && err2 == nil && len(pods.Items)+len(ctrs.Containers) > 0
}

// removeObject removes a pod or a container.
func (e *daemonEnv) removeObject(id string) {
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id}); err == nil {
		e.removePod(id)
		return
	}
	if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		e.t.Errorf("remove container %s: %v", id, err)
	}
}

// checkAllAnswer checks that every listed pod and container answers its status, and that a
// container left CREATED can be started.
func (e *daemonEnv) checkAllAnswer(t *testing.T) {
	t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	pods, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, p := range pods.Items {
		md := p.Metadata
		key := fmt.Sprintf("pod %s/%s uid %s attempt %d", md.GetNamespace(), md.GetName(), md.GetUid(), md.GetAttempt())
		if other, dup := names[key]; dup {
			t.Errorf("%s listed twice: %s and %s", key, other, p.Id)
		}
		names[key] = p.Id
		if _, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("pod %s (%s) listed, but its status: %v", p.Id, p.Metadata.GetName(), err)
		}
	}
	ctrs, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[runtimeapi.ContainerState]int{}
	for _, c := range ctrs.Containers {
		key := fmt.Sprintf("container %s in pod %s attempt %d", c.Metadata.GetName(), c.PodSandboxId, c.Metadata.GetAttempt())
		if other, dup := names[key]; dup {
			t.Errorf("%s listed twice: %s and %s", key, other, c.Id)
		}
		names[key] = c.Id
		st, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			t.Errorf("container %s listed, but its status: %v", c.Id, err)
			continue
		}
		states[st.Status.State]++
		if st.Status.State != c.State {
			t.Errorf("container %s: listed %v, status %v", c.Id, c.State, st.Status.State)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_CREATED {
			if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.Id}); err != nil {
				t.Errorf("container %s left CREATED by the kill: start: %v", c.Id, err)
			}
		}
	}
	t.Logf("container states: %v", states)
}
