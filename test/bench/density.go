package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// memSnapshot is the memory of a runtime at one moment, in KiB.
type memSnapshot struct {
	daemonRSS, daemonPSS int64
	podRSS, podPSS       int64
	podProcs             int
}

func snapshot(e *Endpoint) (memSnapshot, error) {
	var m memSnapshot
	if e.DaemonPID > 0 {
		pm, err := ReadProcMem(e.DaemonPID)
		if err != nil {
			return m, fmt.Errorf("daemon pid %d: %w", e.DaemonPID, err)
		}
		m.daemonRSS, m.daemonPSS = pm.RSS, pm.PSS
	}
	pids := SelectPodProcs(ListProcs("/proc"), e.PodProcs, e.DaemonPID, WorkloadCmdline, os.Getpid())
	m.podRSS, m.podPSS, m.podProcs = SumProcMem(pids)
	return m, nil
}

// runDensity holds DensityPods pods running on every endpoint at once, measures the memory
// each runtime spends on them and the latency of the List RPCs, then removes them.
func runDensity(ctx context.Context, s *ScenarioRun) {
	r, o := s.R, s.R.Opts
	n := o.DensityPods
	requireImages(ctx, s)
	before := map[string]memSnapshot{}
	s.Each(ctx, func(ctx context.Context, e *Endpoint) (err error) {
		before[e.Name], err = snapshot(e)
		return err
	})
	pods := map[string][]Pod{}
	kernel := map[string]int64{}
	// daemon RSS (KiB) against pods running, for a least-squares growth per pod
	rssX, rssY := map[string][]float64{}, map[string][]float64{}
	for name, m := range before {
		rssX[name], rssY[name] = []float64{0}, []float64{float64(m.daemonRSS)}
	}
	batches := (n + o.BatchSize - 1) / o.BatchSize
	s.Interleave(ctx, batches, func(ctx context.Context, e *Endpoint, b int) error {
		size := min(o.BatchSize, n-b*o.BatchSize)
		k0 := KernelMem()
		p, lat, _, err := r.StartBatch(ctx, e, fmt.Sprintf("dense%d", b), size)
		kernel[e.Name] += KernelMem() - k0
		pods[e.Name] = append(pods[e.Name], p...)
		if m, err := ReadProcMem(e.DaemonPID); err == nil && e.DaemonPID > 0 {
			rssX[e.Name] = append(rssX[e.Name], float64(len(pods[e.Name])))
			rssY[e.Name] = append(rssY[e.Name], float64(m.RSS))
		}
		s.Record(e, "start."+fmt.Sprintf("c%d", o.BatchSize)+".loaded", "ms", LowerIsBetter, lat...)
		return err
	})
	if slices.ContainsFunc(r.Endpoints, s.Active) {
		time.Sleep(2 * time.Second) // let the shims/monitors settle after their start
	}
	s.Each(ctx, func(ctx context.Context, e *Endpoint) error {
		s.Record(e, "kernel/pod (host slab+stacks+pagetables)", "KiB", LowerIsBetter, float64(kernel[e.Name])/float64(n))
		return recordMemory(s, e, before[e.Name], n, Slope(rssX[e.Name], rssY[e.Name]))
	})
	listCalls(ctx, s, n)
	s.Interleave(ctx, batches, func(ctx context.Context, e *Endpoint, b int) error {
		end := min((b+1)*o.BatchSize, len(pods[e.Name]))
		if b*o.BatchSize >= end {
			return nil
		}
		_, _, err := r.RemoveBatch(ctx, e, pods[e.Name][b*o.BatchSize:end])
		return err
	})
}

// recordMemory records the memory figures after n pods started; rssSlope is the daemon's
// RSS growth per pod fitted over the batches (KiB/pod, NaN when not enough points).
func recordMemory(s *ScenarioRun, e *Endpoint, before memSnapshot, n int, rssSlope float64) error {
	after, err := snapshot(e)
	if err != nil {
		return err
	}
	perPod := func(a, b int64) float64 { return float64(a-b) / float64(n) }
	var overhead float64
	if e.DaemonPID > 0 {
		s.Record(e, "daemon.rss.idle", "MiB", LowerIsBetter, float64(before.daemonRSS)/1024)
		s.Record(e, fmt.Sprintf("daemon.rss.%dpods", n), "MiB", LowerIsBetter, float64(after.daemonRSS)/1024)
		growth := perPod(after.daemonRSS, before.daemonRSS)
		if !math.IsNaN(rssSlope) {
			growth = rssSlope
		}
		s.Record(e, "daemon.rss.growth/pod", "KiB", LowerIsBetter, growth)
		overhead += growth
	}
	if len(e.PodProcs) > 0 {
		s.Record(e, "podprocs.count/pod", "procs", LowerIsBetter, float64(after.podProcs-before.podProcs)/float64(n))
		s.Record(e, "podprocs.rss/pod", "KiB", LowerIsBetter, perPod(after.podRSS, before.podRSS))
		s.Record(e, "podprocs.pss/pod", "KiB", LowerIsBetter, perPod(after.podPSS, before.podPSS))
		overhead += perPod(after.podPSS, before.podPSS)
	}
	if e.DaemonPID > 0 && len(e.PodProcs) > 0 {
		s.Record(e, "overhead/pod (pss+daemon growth)", "KiB", LowerIsBetter, overhead)
	}
	return nil
}

// listCalls times ListPodSandbox, ListContainers and ListContainerStats, interleaved call by
// call; an RPC answering Unimplemented is dropped with a note, the others go on.
func listCalls(ctx context.Context, s *ScenarioRun, n int) {
	r := s.R
	dropped := map[string]bool{}
	rpcs := []struct {
		name string
		call func(ctx context.Context, e *Endpoint) (int, error)
	}{
		{"ListPodSandbox", func(ctx context.Context, e *Endpoint) (int, error) {
			resp, err := e.RT.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			return len(resp.GetItems()), err
		}},
		{"ListContainers", func(ctx context.Context, e *Endpoint) (int, error) {
			resp, err := e.RT.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
			return len(resp.GetContainers()), err
		}},
		{"ListContainerStats", func(ctx context.Context, e *Endpoint) (int, error) {
			resp, err := e.RT.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			return len(resp.GetStats()), err
		}},
	}
	s.Interleave(ctx, r.Opts.ListCalls, func(ctx context.Context, e *Endpoint, i int) error {
		for _, rpc := range rpcs {
			key := e.Name + "/" + rpc.name
			if dropped[key] {
				continue
			}
			cctx, cancel := r.rpcCtx(ctx)
			start := time.Now()
			got, err := rpc.call(cctx, e)
			d := time.Since(start)
			cancel()
			switch {
			case IsUnimplemented(err):
				dropped[key] = true
				r.Report.Notef("density on %s: %s: Unimplemented (figure skipped)", e.Name, rpc.name)
				continue
			case err != nil:
				return rpcErr(rpc.name, err)
			case i == 0 && got < n:
				r.Report.Notef("density on %s: %s returned %d items with %d pods running", e.Name, rpc.name, got, n)
			}
			s.Record(e, fmt.Sprintf("%s@%d", rpc.name, n), "ms", LowerIsBetter, ms(d))
		}
		return nil
	})
}
