package cri

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type evKey struct {
	id  string
	typ runtimeapi.ContainerEventType
}

// recvEvents reads n events from stream (failing after d), with the reason attached to the
// event's own container status, if any.
func recvEvents(t *testing.T, st runtimeapi.RuntimeService_GetContainerEventsClient, n int) ([]evKey, map[evKey]string) {
	t.Helper()
	var keys []evKey
	reasons := map[evKey]string{}
	for len(keys) < n {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d events %v: %v", len(keys), keys, err)
		}
		k := evKey{ev.ContainerId, ev.ContainerEventType}
		keys = append(keys, k)
		for _, cs := range ev.ContainersStatuses {
			if cs.Id == ev.ContainerId {
				reasons[k] = cs.Reason
			}
		}
		if ev.PodSandboxStatus == nil {
			t.Errorf("event %v without pod sandbox status", k)
		}
	}
	return keys, reasons
}

// TestPodLifecycleStatsEventsRoot runs a pod through CRI on real managers with two event
// subscribers: a container that burns CPU and holds memory (stats), one that is OOM-killed
// under a 20 MiB limit while allocating 200 MiB (reason OOMKilled, STOPPED event), then
// stop and removal of the pod; both subscribers see the same events in order.
func TestPodLifecycleStatsEventsRoot(t *testing.T) {
	e := newRootEnv(t)
	for _, a := range []string{"head", "tail", "dd"} {
		_ = os.Symlink("busybox", filepath.Join(e.dir, "rootfs", "bin", a))
	}
	rc, ctx := e.rc, context.Background()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var subs []runtimeapi.RuntimeService_GetContainerEventsClient
	for range 2 {
		st, err := rc.GetContainerEvents(sctx, &runtimeapi.GetEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, st)
	}
	waitFor(t, func() bool { return e.srv.events.subscribers() == 2 }) // both registered before the first event
	pr, err := rc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "stats", Uid: "u-stats", Namespace: "ns"}, Hostname: "stats",
		LogDirectory: filepath.Join(e.dir, "logs2"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	pod := pr.PodSandboxId
	t.Cleanup(func() { // also after a failure half-way (idempotent)
		_, _ = rc.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod})
		_, _ = rc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod})
	})
	run := func(name string, mem int64, cmd ...string) string {
		t.Helper()
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image: &runtimeapi.ImageSpec{Image: "busybox"}, Command: cmd,
			Linux: &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: mem}}}
		r, err := rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatal(err)
		}
		return r.ContainerId
	}
	// The container's init is this test binary re-executed: pages of it not yet in the page
	// cache would be charged to the 20 MiB cgroup before the limit applies. Read it first.
	if exe, err := os.Executable(); err == nil {
		_, _ = os.ReadFile(exe)
	}
	burn := run("burn", 0, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=16M & while :; do :; done")
	oom := run("oom", oomLimit, "sh", "-c", "head -c 200m /dev/zero | tail")
	checkStats(t, rc, pod, burn)

	var reasons []map[evKey]string
	var seqs [][]evKey
	for _, st := range subs {
		// pod C S, burn C S, oom C S, oom X
		k, r := recvEvents(t, st, 7)
		seqs, reasons = append(seqs, k), append(reasons, r)
	}
	if r, _ := rc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: oom}); r.GetStatus().GetReason() != "OOMKilled" {
		t.Errorf("oom container status %v", r.GetStatus())
	}
	if _, err := rc.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatal(err)
	}
	for i, st := range subs {
		k, _ := recvEvents(t, st, 5) // burn X, pod X, burn D + oom D (any order), pod D
		seqs[i] = append(seqs[i], k...)
	}
	want := []evKey{{pod, evCreated}, {pod, evStarted}, {burn, evCreated}, {burn, evStarted},
		{oom, evCreated}, {oom, evStarted}, {oom, evStopped}, {burn, evStopped}, {pod, evStopped}}
	for i, seq := range seqs {
		for j, w := range want {
			if seq[j] != w {
				t.Fatalf("subscriber %d event %d: %v, want %v (all: %v)", i, j, seq[j], w, seq)
			}
		}
		tail := map[evKey]bool{seq[9]: true, seq[10]: true}
		if !tail[evKey{burn, evDeleted}] || !tail[evKey{oom, evDeleted}] || seq[11] != (evKey{pod, evDeleted}) {
			t.Errorf("subscriber %d: removal events %v", i, seq[9:])
		}
		if reasons[i][evKey{oom, evStopped}] != "OOMKilled" {
			t.Errorf("subscriber %d: STOPPED of the OOM container has reason %q", i, reasons[i][evKey{oom, evStopped}])
		}
	}
}

// checkStats reads the burner's stats twice through CRI and checks them against the pod's.
func checkStats(t *testing.T, rc runtimeapi.RuntimeServiceClient, pod, burn string) {
	t.Helper()
	ctx := context.Background()
	r0, err := rc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: burn})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	r, err := rc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: burn})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stats
	// The burner uses CPU, but how much depends on how busy the machine is: assert that it
	// runs (usage grows, a rate is reported), never a speed.
	if s.Cpu.UsageNanoCores.GetValue() == 0 || s.Cpu.UsageCoreNanoSeconds.GetValue() <= r0.Stats.Cpu.UsageCoreNanoSeconds.GetValue() ||
		s.Memory.WorkingSetBytes.GetValue() < 16<<20 || s.Memory.RssBytes.GetValue() < 16<<20 {
		t.Errorf("burner stats: cpu %v memory %v", s.Cpu, s.Memory)
	}
	p, err := rc.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: pod})
	if err != nil {
		t.Fatal(err)
	}
	lx := p.Stats.Linux
	if lx.Cpu.UsageCoreNanoSeconds.GetValue() < s.Cpu.UsageCoreNanoSeconds.GetValue() ||
		lx.Memory.UsageBytes.GetValue() < s.Memory.UsageBytes.GetValue() || lx.Process.ProcessCount.GetValue() < 2 || len(lx.Containers) != 2 {
		t.Errorf("pod stats %v below its container's %v", lx, s)
	}
	l, err := rc.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: pod}})
	if err != nil || len(l.Stats) != 2 {
		t.Errorf("ListContainerStats: %d, %v", len(l.GetStats()), err)
	}
}
