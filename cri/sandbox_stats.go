package cri

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/cgstats"
	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/netstats"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// CgroupReader reads a cgroup's figures; cgstats.Reader satisfies it.
type CgroupReader interface {
	Read(path string) (cgstats.Sample, error)
	Processes(path string) (uint64, error)
}

// SandboxLister lists pod sandboxes; *sandbox.Manager satisfies it.
type SandboxLister interface {
	List() []sandbox.Sandbox
}

// defaultInterface is the pod interface kubelet treats as the pod's network (CNI's eth0).
const defaultInterface = "eth0"

// podStatsDeps are the readers the pod stats RPCs use (set in NewServer, fakes in tests).
type podStatsDeps struct {
	cgroups CgroupReader
	netns   func(nsPath string) ([]netstats.Interface, error)
	rates   *cgstats.Rates
}

func newPodStatsDeps(o Options) podStatsDeps {
	d := podStatsDeps{cgroups: o.Cgroups, netns: o.NetnsStats, rates: cgstats.NewRates()}
	if d.cgroups == nil {
		d.cgroups = cgstats.New()
	}
	if d.netns == nil {
		d.netns = netstats.Read
	}
	return d
}

func (s *Server) podLister() (SandboxLister, error) {
	if s.opts.Sandboxes != nil {
		return s.opts.Sandboxes, nil
	}
	if l, ok := s.opts.PodLookup.(SandboxLister); ok {
		return l, nil
	}
	return nil, errNoSandboxes
}

// PodSandboxStats reports a pod's cgroup CPU, memory and process count, its network
// interfaces and the stats of its containers.
func (s *Server) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	if s.opts.PodLookup == nil {
		return nil, errNoSandboxes
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod_sandbox_id: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.opts.PodLookup.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.podStats(ctx, sb)}, nil
}

// ListPodSandboxStats reports the stats of the ready pods matching the filter (id by prefix,
// labels exactly).
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	out, err := s.listPodStats(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}

// StreamPodSandboxStats is ListPodSandboxStats in batches, ending with EOF.
func (s *Server) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	out, err := s.listPodStats(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	return sendBatches(out, func(b []*runtimeapi.PodSandboxStats) error {
		return stream.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: b})
	})
}

func (s *Server) listPodStats(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	l, err := s.podLister()
	if err != nil {
		return nil, err
	}
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range l.List() {
		if sb.State == sandbox.StateReady && matchPod(sb, f.GetId(), f.GetLabelSelector()) {
			out = append(out, s.podStats(ctx, sb))
		}
	}
	return out, nil
}

func matchPod(sb sandbox.Sandbox, idPrefix string, labels map[string]string) bool {
	if !strings.HasPrefix(sb.ID, idPrefix) {
		return false
	}
	for k, v := range labels {
		if got, ok := sb.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// podStats gathers what can be read; a part that cannot (pod cgroup gone, netns gone) is
// left out rather than failing the whole answer.
func (s *Server) podStats(ctx context.Context, sb sandbox.Sandbox) *runtimeapi.PodSandboxStats {
	lx := &runtimeapi.LinuxPodSandboxStats{}
	if smp, err := s.pods.cgroups.Read(sb.CgroupParent); err == nil {
		ts := smp.Timestamp.UnixNano()
		nano, ok := s.pods.rates.NanoCores("pod/"+sb.ID, smp.Timestamp, smp.CPUUsageNanos)
		lx.Cpu = cpuToCRI(ts, smp.CPUUsageNanos, nano, ok)
		lx.Memory = memoryToCRI(ts, sampleStats(smp))
		if n, err := s.pods.cgroups.Processes(sb.CgroupParent); err == nil {
			lx.Process = &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: u64(n)}
		}
	} else if !errors.Is(err, cgstats.ErrNoCgroup) {
		s.logger(ctx).Debug("pod cgroup stats", "pod", sb.ID, "err", err)
	}
	if sb.NetNSPath != "" && !sb.HostNetwork {
		if ifs, err := s.pods.netns(sb.NetNSPath); err == nil {
			lx.Network = networkToCRI(time.Now().UnixNano(), ifs)
		} else {
			s.logger(ctx).Debug("pod network stats", "pod", sb.ID, "err", err)
		}
	}
	if rt, ss, err := s.statsSource(); err == nil {
		var sel []runtime.Status
		for _, st := range rt.List() {
			if st.PodID == sb.ID {
				sel = append(sel, st)
			}
		}
		lx.Containers = s.statsOf(ctx, ss, sel)
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: sb.ID, Metadata: podMetadata(&sb), Labels: sb.Labels, Annotations: sb.Annotations,
		},
		Linux: lx,
	}
}

// sampleStats gives a cgroup sample the runtime.Stats shape the converters take.
func sampleStats(s cgstats.Sample) runtime.Stats {
	return runtime.Stats{
		Timestamp: s.Timestamp, CPUUsageNanos: s.CPUUsageNanos, MemoryWorkingSet: s.MemoryWorkingSet,
		MemoryUsage: s.MemoryUsage, MemoryRSS: s.MemoryRSS, MemoryPageFaults: s.PageFaults,
		MemoryMajorFaults: s.MajorPageFaults, MemorySwap: s.SwapUsage, MemoryLimit: s.MemoryLimit,
		OOMKills: s.OOMKills, Pids: s.Pids,
	}
}

func networkToCRI(ts int64, ifs []netstats.Interface) *runtimeapi.NetworkUsage {
	n := &runtimeapi.NetworkUsage{Timestamp: ts}
	for _, i := range ifs {
		u := &runtimeapi.NetworkInterfaceUsage{
			Name: i.Name, RxBytes: u64(i.RxBytes), RxErrors: u64(i.RxErrors),
			TxBytes: u64(i.TxBytes), TxErrors: u64(i.TxErrors),
		}
		n.Interfaces = append(n.Interfaces, u)
		if i.Name == defaultInterface {
			n.DefaultInterface = u
		}
	}
	if n.DefaultInterface == nil && len(n.Interfaces) > 0 {
		n.DefaultInterface = n.Interfaces[0]
	}
	return n
}
