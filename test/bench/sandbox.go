package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runSandbox measures a pod sandbox alone (no container): RunPodSandbox, then StopPodSandbox
// and RemovePodSandbox, serially; one warm-up pod per endpoint is not recorded.
func runSandbox(ctx context.Context, s *ScenarioRun) {
	r := s.R
	ids := map[string][]string{}
	s.Interleave(ctx, r.Opts.Serial+1, func(ctx context.Context, e *Endpoint, i int) error {
		cfg := r.PodConfig(e, fmt.Sprintf("sandbox-%d", i))
		if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
			return err
		}
		cctx, cancel := r.rpcCtx(ctx)
		defer cancel()
		start := time.Now()
		resp, err := e.RT.RunPodSandbox(cctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		d := time.Since(start)
		if err != nil {
			return rpcErr("RunPodSandbox", err)
		}
		e.trackPod(resp.PodSandboxId, true)
		if i > 0 {
			s.Record(e, "runpodsandbox.serial", "ms", LowerIsBetter, ms(d))
		}
		ids[e.Name] = append(ids[e.Name], resp.PodSandboxId)
		return nil
	})
	s.Interleave(ctx, r.Opts.Serial+1, func(ctx context.Context, e *Endpoint, i int) error {
		if i >= len(ids[e.Name]) {
			return nil
		}
		cctx, cancel := r.rpcCtx(ctx)
		defer cancel()
		id := ids[e.Name][i]
		start := time.Now()
		if _, err := e.RT.StopPodSandbox(cctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			return rpcErr("StopPodSandbox", err)
		}
		stopped := time.Now()
		if _, err := e.RT.RemovePodSandbox(cctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			return rpcErr("RemovePodSandbox", err)
		}
		e.trackPod(id, false)
		if i > 0 {
			s.Record(e, "stoppodsandbox.serial", "ms", LowerIsBetter, ms(stopped.Sub(start)))
			s.Record(e, "removepodsandbox.serial", "ms", LowerIsBetter, ms(time.Since(stopped)))
		}
		return nil
	})
}
