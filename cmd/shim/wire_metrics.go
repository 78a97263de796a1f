package main

import (
	"strings"

	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/metrics"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// registerDomainMetrics adds the pods/containers/monitors gauges and the pull instruments.
func registerDomainMetrics(m *metrics.Metrics, pods *sandbox.Manager, ctrs *runtime.Manager, imgs *images.Service) error {
	pulls, err := m.Pulls()
	if err != nil {
		return err
	}
	imgs.OnPull(func(r images.PullReport) { pulls.Observe(r.Bytes, r.Duration, r.Err == nil) })
	return m.Register(
		metrics.GaugeFunc("pods", "Pod sandboxes by state.", "state", func() map[string]float64 {
			out := map[string]float64{"ready": 0, "notready": 0}
			for _, sb := range pods.List() {
				if sb.State == sandbox.StateReady {
					out["ready"]++
				} else {
					out["notready"]++
				}
			}
			return out
		}),
		metrics.GaugeFunc("containers", "Containers by state.", "state", func() map[string]float64 {
			out := map[string]float64{"created": 0, "running": 0, "exited": 0, "unknown": 0}
			for _, st := range ctrs.List() {
				out[strings.ToLower(string(st.State))]++
			}
			return out
		}),
		metrics.Gauge("monitors", "Running pod monitor processes.", func() float64 {
			return float64(len(ctrs.Monitors()))
		}),
		metrics.Gauge("monitor_rss_bytes", "Resident memory of all pod monitor processes.", func() float64 {
			var sum uint64
			for _, mi := range ctrs.Monitors() {
				sum += mi.RSSBytes
			}
			return float64(sum)
		}),
	)
}
