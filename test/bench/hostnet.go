package bench

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runHostNet is the serial pod start and stop + remove of the pods scenario with host-network
// pods: no CNI plugin runs, so the figures are the runtime's own cost.
func runHostNet(ctx context.Context, s *ScenarioRun) {
	r := s.R
	requireImages(ctx, s)
	pods := map[string][]Pod{}
	s.Interleave(ctx, r.Opts.Serial+1, func(ctx context.Context, e *Endpoint, i int) error {
		cfg := r.PodConfig(e, fmt.Sprintf("hostnet-%d", i))
		cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
		cfg.Hostname = ""
		p, d, err := r.StartPodConfig(ctx, e, cfg)
		if err != nil {
			return err
		}
		pods[e.Name] = append(pods[e.Name], p)
		if i > 0 { // the first one is a warm-up
			s.Record(e, "start.serial", "ms", LowerIsBetter, ms(d))
			for j, ph := range p.Phases {
				s.Record(e, "start.serial."+phaseNames[j], "ms", LowerIsBetter, ms(ph))
			}
		}
		return nil
	})
	s.Interleave(ctx, r.Opts.Serial+1, func(ctx context.Context, e *Endpoint, i int) error {
		if i >= len(pods[e.Name]) {
			return nil
		}
		start := time.Now()
		if err := r.RemovePod(ctx, e, pods[e.Name][i].ID); err != nil {
			return err
		}
		if i > 0 {
			s.Record(e, "stopremove.serial", "ms", LowerIsBetter, ms(time.Since(start)))
		}
		return nil
	})
}
