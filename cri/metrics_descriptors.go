package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/netstats"
	"github.com/crishim/crishim/runtime"
)

// baseLabelKeys start the label keys of every metric (values: container or pod id, its name,
// its image), as in CRI-O; kubelet turns the descriptors into its cAdvisor-compatible
// Prometheus families.
var baseLabelKeys = []string{"id", "name", "image"}

// ctrMetric is a container metric computed from the runtime's stats and status.
type ctrMetric struct {
	name, help string
	typ        runtimeapi.MetricType
	extraKeys  []string
	// values returns the extra label values and the value; ok=false leaves it out.
	value func(st runtime.Status, s runtime.Stats) (extra []string, v uint64, ok bool)
}

// netMetric is a per-interface metric of a pod's network namespace.
type netMetric struct {
	name, help string
	value      func(i netstats.Interface) uint64
}

const (
	gauge   = runtimeapi.MetricType_GAUGE
	counter = runtimeapi.MetricType_COUNTER
)

func always(f func(runtime.Status, runtime.Stats) uint64) func(runtime.Status, runtime.Stats) ([]string, uint64, bool) {
	return func(st runtime.Status, s runtime.Stats) ([]string, uint64, bool) { return nil, f(st, s), true }
}

// containerMetrics are the cAdvisor names kubelet's /metrics/cadvisor serves for containers.
var containerMetrics = []ctrMetric{
	{"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", counter, []string{"cpu"},
		func(_ runtime.Status, s runtime.Stats) ([]string, uint64, bool) {
			return []string{"total"}, s.CPUUsageNanos / 1e9, true
		}},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.MemoryUsage })},
	{"container_memory_working_set_bytes", "Current working set in bytes.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.MemoryWorkingSet })},
	{"container_memory_rss", "Size of RSS in bytes.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.MemoryRSS })},
	{"container_memory_swap", "Container swap usage in bytes.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.MemorySwap })},
	{"container_spec_memory_limit_bytes", "Memory limit for the container in bytes.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.MemoryLimit })},
	{"container_oom_events_total", "Count of out of memory events observed for the container.", counter, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.OOMKills })},
	{"container_processes", "Number of processes running inside the container.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return s.Pids })},
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", gauge, nil,
		func(_ runtime.Status, s runtime.Stats) ([]string, uint64, bool) {
			return nil, s.WritableLayerBytes, s.WritableLayerValid
		}},
	{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", gauge, nil,
		func(st runtime.Status, _ runtime.Stats) ([]string, uint64, bool) {
			return nil, uint64(max(st.StartedAt.Unix(), 0)), !st.StartedAt.IsZero()
		}},
	{"container_last_seen", "Last time a container was seen by the exporter.", gauge, nil,
		always(func(_ runtime.Status, s runtime.Stats) uint64 { return uint64(max(s.Timestamp.Unix(), 0)) })},
}

// networkMetrics are reported per interface of the pod's network namespace.
var networkMetrics = []netMetric{
	{"container_network_receive_bytes_total", "Cumulative count of bytes received.", func(i netstats.Interface) uint64 { return i.RxBytes }},
	{"container_network_receive_packets_total", "Cumulative count of packets received.", func(i netstats.Interface) uint64 { return i.RxPackets }},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", func(i netstats.Interface) uint64 { return i.RxDropped }},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", func(i netstats.Interface) uint64 { return i.RxErrors }},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", func(i netstats.Interface) uint64 { return i.TxBytes }},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted.", func(i netstats.Interface) uint64 { return i.TxPackets }},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", func(i netstats.Interface) uint64 { return i.TxDropped }},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", func(i netstats.Interface) uint64 { return i.TxErrors }},
}

// ListMetricDescriptors describes every metric ListPodSandboxMetrics returns.
func (s *Server) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: metricDescriptors()}, nil
}

func metricDescriptors() []*runtimeapi.MetricDescriptor {
	keys := func(extra ...string) []string { return append(append([]string{}, baseLabelKeys...), extra...) }
	var out []*runtimeapi.MetricDescriptor
	for _, m := range containerMetrics {
		out = append(out, &runtimeapi.MetricDescriptor{Name: m.name, Help: m.help, LabelKeys: keys(m.extraKeys...)})
	}
	for _, m := range networkMetrics {
		out = append(out, &runtimeapi.MetricDescriptor{Name: m.name, Help: m.help, LabelKeys: keys("interface")})
	}
	return out
}
