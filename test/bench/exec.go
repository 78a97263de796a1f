package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// setupPods starts one pod per active endpoint for a scenario that measures calls on a
// running container.
func setupPods(ctx context.Context, s *ScenarioRun) map[string]Pod {
	pods := map[string]Pod{}
	requireImages(ctx, s)
	s.Each(ctx, func(ctx context.Context, e *Endpoint) error {
		p, _, err := s.R.StartPod(ctx, e, s.Name)
		pods[e.Name] = p
		return err
	})
	return pods
}

// runExec checks ExecSync output once, then times ExecSync of /bin/true.
func runExec(ctx context.Context, s *ScenarioRun) {
	r := s.R
	pods := setupPods(ctx, s)
	s.Each(ctx, func(ctx context.Context, e *Endpoint) error {
		resp, err := execSync(ctx, r, e, pods[e.Name].ContainerID, "/bin/echo", "hello")
		if err != nil {
			return err
		}
		if resp.ExitCode != 0 || strings.TrimSpace(string(resp.Stdout)) != "hello" {
			return fmt.Errorf("ExecSync echo hello: exit %d, stdout %q, stderr %q", resp.ExitCode, resp.Stdout, resp.Stderr)
		}
		return nil
	})
	s.Interleave(ctx, r.Opts.ExecCalls, func(ctx context.Context, e *Endpoint, _ int) error {
		start := time.Now()
		resp, err := execSync(ctx, r, e, pods[e.Name].ContainerID, "/bin/true")
		d := time.Since(start)
		if err != nil {
			return err
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("ExecSync /bin/true: exit code %d", resp.ExitCode)
		}
		s.Record(e, "execsync.true", "ms", LowerIsBetter, ms(d))
		return nil
	})
}

func execSync(ctx context.Context, r *Runner, e *Endpoint, id string, cmd ...string) (*runtimeapi.ExecSyncResponse, error) {
	ctx, cancel := r.rpcCtx(ctx)
	defer cancel()
	resp, err := e.RT.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30})
	return resp, rpcErr("ExecSync", err)
}

// runStats times ContainerStats on a running container.
func runStats(ctx context.Context, s *ScenarioRun) {
	r := s.R
	pods := setupPods(ctx, s)
	s.Interleave(ctx, r.Opts.StatsCalls, func(ctx context.Context, e *Endpoint, _ int) error {
		cctx, cancel := r.rpcCtx(ctx)
		defer cancel()
		start := time.Now()
		resp, err := e.RT.ContainerStats(cctx, &runtimeapi.ContainerStatsRequest{ContainerId: pods[e.Name].ContainerID})
		d := time.Since(start)
		if err != nil {
			return rpcErr("ContainerStats", err)
		}
		if resp.GetStats().GetAttributes().GetId() == "" {
			return fmt.Errorf("ContainerStats: no attributes in %v", resp)
		}
		s.Record(e, "containerstats", "ms", LowerIsBetter, ms(d))
		return nil
	})
}
