package cri

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// StatsSource reads a container's resource usage (*runtime.Manager satisfies it).
type StatsSource interface {
	Stats(ctx context.Context, id string) (runtime.Stats, error)
}

// statsWorkers bounds the containers whose cgroups are read at the same time.
const statsWorkers = 8

// statsSource returns the runtime's stats reader, or Unimplemented.
func (s *Server) statsSource() (ContainerRuntime, StatsSource, error) {
	rt, err := s.containers()
	if err != nil {
		return nil, nil, err
	}
	ss, ok := rt.(StatsSource)
	if !ok {
		return nil, nil, fmt.Errorf("container stats: the container runtime does not report them: %w", errdefs.ErrNotImplemented)
	}
	return rt, ss, nil
}

// ContainerStats reports one container's CPU, memory, swap and writable layer usage.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	rt, ss, err := s.statsSource()
	if err != nil {
		return nil, err
	}
	st, err := lookupContainer(rt, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	stats, err := ss.Stats(ctx, st.ID)
	if err != nil {
		return nil, fmt.Errorf("stats of container %q: %w", st.ID, err)
	}
	return &runtimeapi.ContainerStatsResponse{Stats: containerStatsToCRI(st, stats, s.opts.WritableLayerMountpoint)}, nil
}

// ListContainerStats reports the usage of every container matching the filter (id and
// pod_sandbox_id by prefix, labels exactly), created and exited ones included.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	out, err := s.listContainerStats(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

// StreamContainerStats is ListContainerStats in batches, ending with EOF.
func (s *Server) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	out, err := s.listContainerStats(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	return sendBatches(out, func(b []*runtimeapi.ContainerStats) error {
		return stream.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: b})
	})
}

func (s *Server) listContainerStats(ctx context.Context, f *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	rt, ss, err := s.statsSource()
	if err != nil {
		return nil, err
	}
	cf := &runtimeapi.ContainerFilter{Id: f.GetId(), PodSandboxId: f.GetPodSandboxId(), LabelSelector: f.GetLabelSelector()}
	var sel []runtime.Status
	for _, st := range rt.List() {
		if matchContainer(st, cf) {
			sel = append(sel, st)
		}
	}
	return s.statsOf(ctx, ss, sel), nil
}

// statsOf reads the stats of the given containers, a few at a time, in their order.
// Containers removed meanwhile are left out.
func (s *Server) statsOf(ctx context.Context, ss StatsSource, sel []runtime.Status) []*runtimeapi.ContainerStats {
	res := make([]*runtimeapi.ContainerStats, len(sel))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(statsWorkers, len(sel)) {
		wg.Go(func() {
			for i := range next {
				stats, err := ss.Stats(ctx, sel[i].ID)
				if err != nil {
					continue
				}
				res[i] = containerStatsToCRI(sel[i], stats, s.opts.WritableLayerMountpoint)
			}
		})
	}
	for i := range sel {
		next <- i
	}
	close(next)
	wg.Wait()
	out := res[:0]
	for _, r := range res {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// sendBatches sends items in batches of streamBatch (nothing for an empty list). Stats
// messages are smaller per item than StreamContainers' ones.
func sendBatches[T any](items []T, send func([]T) error) error {
	for len(items) > 0 {
		n := min(streamBatch, len(items))
		if err := send(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

// containerStatsToCRI converts runtime stats; mountpoint names the writable layers'
// filesystem ("" = unknown).
func containerStatsToCRI(st runtime.Status, s runtime.Stats, mountpoint string) *runtimeapi.ContainerStats {
	ts := s.Timestamp.UnixNano()
	out := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id: st.ID, Metadata: metadataToCRI(st), Labels: st.Labels, Annotations: st.Annotations,
		},
		Cpu:    cpuToCRI(ts, s.CPUUsageNanos, s.CPUNanoCores, s.CPUNanoCoresValid),
		Memory: memoryToCRI(ts, s),
		Swap:   &runtimeapi.SwapUsage{Timestamp: ts, SwapUsageBytes: u64(s.MemorySwap)},
	}
	if s.WritableLayerValid {
		out.WritableLayer = &runtimeapi.FilesystemUsage{
			Timestamp: ts, UsedBytes: u64(s.WritableLayerBytes), InodesUsed: u64(s.WritableLayerInodes),
		}
		if mountpoint != "" {
			out.WritableLayer.FsId = &runtimeapi.FilesystemIdentifier{Mountpoint: mountpoint}
		}
	}
	return out
}

func cpuToCRI(ts int64, usage, nanoCores uint64, rateValid bool) *runtimeapi.CpuUsage {
	c := &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(usage)}
	if rateValid {
		c.UsageNanoCores = u64(nanoCores)
	}
	return c
}

func memoryToCRI(ts int64, s runtime.Stats) *runtimeapi.MemoryUsage {
	m := &runtimeapi.MemoryUsage{
		Timestamp: ts, WorkingSetBytes: u64(s.MemoryWorkingSet), UsageBytes: u64(s.MemoryUsage),
		RssBytes: u64(s.MemoryRSS), PageFaults: u64(s.MemoryPageFaults), MajorPageFaults: u64(s.MemoryMajorFaults),
	}
	if s.MemoryLimit > 0 {
		// kubelet's definition: limit minus working set, never negative.
		m.AvailableBytes = u64(s.MemoryLimit - min(s.MemoryLimit, s.MemoryWorkingSet))
	}
	return m
}
