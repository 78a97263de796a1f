package cri

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/cgstats"
	"github.com/crishim/crishim/internal/netstats"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// statsRuntime adds canned Stats to fakeRuntime.
type statsRuntime struct {
	*fakeRuntime
	stats map[string]runtime.Stats
}

func (f *statsRuntime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	if _, err := f.Status(id); err != nil {
		return runtime.Stats{}, err
	}
	return f.stats[id], nil
}

// listSandboxes is a fake pod store that can list.
type listSandboxes map[string]sandbox.Sandbox

func (l listSandboxes) Get(id string) (sandbox.Sandbox, error) { return fakeSandboxes(l).Get(id) }
func (l listSandboxes) List() []sandbox.Sandbox {
	var out []sandbox.Sandbox
	for _, sb := range l {
		out = append(out, sb)
	}
	return out
}

type fakeCgroups map[string]cgstats.Sample

func (f fakeCgroups) Read(path string) (cgstats.Sample, error) {
	if s, ok := f[path]; ok {
		return s, nil
	}
	return cgstats.Sample{}, cgstats.ErrNoCgroup
}

func (f fakeCgroups) Processes(path string) (uint64, error) {
	if s, ok := f[path]; ok {
		return s.Pids - 1, nil // fewer processes than tasks
	}
	return 0, cgstats.ErrNoCgroup
}

var statsTime = time.Unix(5000, 0)

// statsServer has pod1 (ready, two containers: a labelled app=web) and pod3 (not ready).
func statsServer(t *testing.T) (runtimeapi.RuntimeServiceClient, *statsRuntime, []string) {
	t.Helper()
	rt := &statsRuntime{fakeRuntime: newFakeRuntime(), stats: map[string]runtime.Stats{}}
	pod := testPod()
	pod.Labels = map[string]string{"tier": "front"}
	down := testPod()
	down.ID, down.State = "pod3", sandbox.StateNotReady
	cg := fakeCgroups{pod.CgroupParent: {Timestamp: statsTime, CPUUsageNanos: 7e9, MemoryUsage: 300, MemoryWorkingSet: 200, Pids: 4}}
	netns := func(p string) ([]netstats.Interface, error) {
		if p != pod.NetNSPath {
			return nil, errors.New("no such netns")
		}
		return []netstats.Interface{{Name: "eth0", RxBytes: 1000, TxBytes: 2000, RxPackets: 10}, {Name: "net1", RxBytes: 5}}, nil
	}
	srv := NewServer(Options{Containers: rt, PodLookup: listSandboxes{"pod1": pod, "pod3": down}, ImageResolver: testImages(),
		Cgroups: cg, NetnsStats: netns, WritableLayerMountpoint: "/var/lib/crishim/rootfs"})
	rc, _ := dialServer(t, srv)
	var ids []string
	for i, name := range []string{"a", "b"} {
		spec := runtime.ContainerSpec{PodID: "pod1", Name: name, Image: runtime.Image{Ref: "busybox:1.36", ID: busyboxID}}
		if name == "a" {
			spec.Labels = map[string]string{"app": "web"}
		}
		st, _ := rt.Create(context.Background(), spec)
		ids = append(ids, st.ID)
		rt.stats[st.ID] = runtime.Stats{
			Timestamp: statsTime, CPUUsageNanos: uint64(i+1) * 3e9, CPUNanoCores: 5e8, CPUNanoCoresValid: i == 0,
			MemoryUsage: 100, MemoryWorkingSet: 60, MemoryRSS: 40, MemoryLimit: 1000, MemoryPageFaults: 9,
			WritableLayerBytes: 4096, WritableLayerInodes: 3, WritableLayerValid: true, Pids: 2,
		}
	}
	return rc, rt, ids
}

func TestContainerStatsRPCs(t *testing.T) {
	rc, _, ids := statsServer(t)
	ctx := context.Background()
	r, err := rc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: ids[0][:12]})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stats
	if s.Attributes.Id != ids[0] || s.Attributes.Metadata.Name != "a" || s.Attributes.Labels["app"] != "web" {
		t.Errorf("attributes %v", s.Attributes)
	}
	if s.Cpu.Timestamp != statsTime.UnixNano() || s.Cpu.UsageCoreNanoSeconds.GetValue() != 3e9 || s.Cpu.UsageNanoCores.GetValue() != 5e8 {
		t.Errorf("cpu %v", s.Cpu)
	}
	m := s.Memory
	if m.WorkingSetBytes.GetValue() != 60 || m.UsageBytes.GetValue() != 100 || m.RssBytes.GetValue() != 40 ||
		m.AvailableBytes.GetValue() != 940 || m.PageFaults.GetValue() != 9 {
		t.Errorf("memory %v", m)
	}
	if w := s.WritableLayer; w.UsedBytes.GetValue() != 4096 || w.InodesUsed.GetValue() != 3 || w.FsId.GetMountpoint() != "/var/lib/crishim/rootfs" {
		t.Errorf("writable layer %v", w)
	}
	r2, _ := rc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: ids[1]})
	if r2.Stats.Cpu.UsageNanoCores != nil {
		t.Errorf("no CPU rate yet must leave usage_nano_cores unset, got %v", r2.Stats.Cpu.UsageNanoCores)
	}
	if _, err := rc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "nope"}); err == nil {
		t.Error("unknown container: no error")
	}
	for _, c := range []struct {
		f    *runtimeapi.ContainerStatsFilter
		want int
	}{
		{nil, 2}, {&runtimeapi.ContainerStatsFilter{PodSandboxId: "pod1"}, 2}, {&runtimeapi.ContainerStatsFilter{PodSandboxId: "pod2"}, 0},
		{&runtimeapi.ContainerStatsFilter{Id: ids[1][:8]}, 1}, {&runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"app": "web"}}, 1},
		{&runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"app": "db"}}, 0},
	} {
		l, err := rc.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: c.f})
		if err != nil || len(l.Stats) != c.want {
			t.Errorf("filter %v: %d stats (%v), want %d", c.f, len(l.GetStats()), err, c.want)
		}
	}
	st, err := rc.StreamContainerStats(ctx, &runtimeapi.StreamContainerStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		msg, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(msg.ContainerStats)
	}
	if n != 2 {
		t.Errorf("stream: %d stats, want 2", n)
	}
}

func TestPodSandboxStatsRPCs(t *testing.T) {
	rc, _, ids := statsServer(t)
	ctx := context.Background()
	r, err := rc.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "pod1"})
	if err != nil {
		t.Fatal(err)
	}
	lx := r.Stats.Linux
	if r.Stats.Attributes.Id != "pod1" || r.Stats.Attributes.Metadata.Name != "p" {
		t.Errorf("attributes %v", r.Stats.Attributes)
	}
	if lx.Cpu.UsageCoreNanoSeconds.GetValue() != 7e9 || lx.Memory.WorkingSetBytes.GetValue() != 200 || lx.Process.ProcessCount.GetValue() != 3 {
		t.Errorf("pod cgroup stats cpu %v mem %v proc %v", lx.Cpu, lx.Memory, lx.Process)
	}
	if lx.Network.DefaultInterface.GetName() != "eth0" || lx.Network.DefaultInterface.RxBytes.GetValue() != 1000 || len(lx.Network.Interfaces) != 2 {
		t.Errorf("network %v", lx.Network)
	}
	if len(lx.Containers) != 2 {
		t.Errorf("%d container stats, want 2", len(lx.Containers))
	}
	if _, err := rc.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: ""}); err == nil {
		t.Error("empty id: no error")
	}
	l, err := rc.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil || len(l.Stats) != 1 || l.Stats[0].Attributes.Id != "pod1" {
		t.Fatalf("list: %v %v, want only the ready pod1", l, err)
	}
	l, _ = rc.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{Filter: &runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"tier": "back"}}})
	if len(l.Stats) != 0 {
		t.Errorf("label filter kept %d pods", len(l.Stats))
	}
	_ = ids
}

func TestMetricDescriptorsAndValues(t *testing.T) {
	rc, _, ids := statsServer(t)
	ctx := context.Background()
	d, err := rc.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, x := range d.Descriptors {
		if _, dup := keys[x.Name]; dup {
			t.Errorf("descriptor %s twice", x.Name)
		}
		keys[x.Name] = len(x.LabelKeys)
	}
	for _, name := range []string{
		"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_usage_bytes",
		"container_memory_rss", "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
		"container_oom_events_total", "container_fs_usage_bytes", "container_start_time_seconds",
	} {
		if _, ok := keys[name]; !ok {
			t.Errorf("no descriptor %s", name)
		}
	}
	r, err := rc.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil || len(r.PodMetrics) != 1 {
		t.Fatalf("pod metrics %v %v", r, err)
	}
	pm := r.PodMetrics[0]
	all := append([]*runtimeapi.Metric{}, pm.Metrics...)
	for _, cm := range pm.ContainerMetrics {
		all = append(all, cm.Metrics...)
	}
	var ws, rx uint64
	for _, m := range all {
		n, ok := keys[m.Name]
		if !ok || n != len(m.LabelValues) {
			t.Errorf("metric %s: %d label values, descriptor has %d keys (known %v)", m.Name, len(m.LabelValues), n, ok)
		}
		if m.Name == "container_memory_working_set_bytes" && m.LabelValues[0] == ids[0] {
			ws = m.Value.GetValue()
		}
		if m.Name == "container_network_receive_bytes_total" && m.LabelValues[3] == "eth0" {
			rx = m.Value.GetValue()
		}
	}
	if ws != 60 || rx != 1000 || len(pm.ContainerMetrics) != 2 {
		t.Errorf("working set %d rx %d containers %d; want 60, 1000, 2", ws, rx, len(pm.ContainerMetrics))
	}
}
