package cri

import (
	"context"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// ListPodSandboxMetrics returns, for every ready pod, its network metrics and the metrics of
// its containers, under the names ListMetricDescriptors describes.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	out, err := s.podMetrics(ctx)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}

// StreamPodSandboxMetrics is ListPodSandboxMetrics in batches, ending with EOF.
func (s *Server) StreamPodSandboxMetrics(req *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	out, err := s.podMetrics(stream.Context())
	if err != nil {
		return err
	}
	return sendBatches(out, func(b []*runtimeapi.PodSandboxMetrics) error {
		return stream.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: b})
	})
}

func (s *Server) podMetrics(ctx context.Context) ([]*runtimeapi.PodSandboxMetrics, error) {
	l, err := s.podLister()
	if err != nil {
		return nil, err
	}
	byPod := map[string][]runtime.Status{}
	rt, ss, ctrErr := s.statsSource()
	if ctrErr == nil {
		for _, st := range rt.List() {
			byPod[st.PodID] = append(byPod[st.PodID], st)
		}
	}
	var out []*runtimeapi.PodSandboxMetrics
	for _, sb := range l.List() {
		if sb.State != sandbox.StateReady {
			continue
		}
		pm := &runtimeapi.PodSandboxMetrics{PodSandboxId: sb.ID, Metrics: s.podNetworkMetrics(sb)}
		for _, st := range byPod[sb.ID] {
			stats, err := ss.Stats(ctx, st.ID)
			if err != nil {
				continue
			}
			pm.ContainerMetrics = append(pm.ContainerMetrics, &runtimeapi.ContainerMetrics{
				ContainerId: st.ID, Metrics: containerMetricValues(st, stats),
			})
		}
		out = append(out, pm)
	}
	return out, nil
}

// containerMetricValues evaluates containerMetrics for one container.
func containerMetricValues(st runtime.Status, stats runtime.Stats) []*runtimeapi.Metric {
	ts := stats.Timestamp.UnixNano()
	base := []string{st.ID, st.Name, st.Image.Ref}
	var out []*runtimeapi.Metric
	for _, m := range containerMetrics {
		extra, v, ok := m.value(st, stats)
		if !ok {
			continue
		}
		out = append(out, &runtimeapi.Metric{
			Name: m.name, Timestamp: ts, MetricType: m.typ,
			LabelValues: append(append([]string{}, base...), extra...), Value: u64(v),
		})
	}
	return out
}

// podNetworkMetrics evaluates networkMetrics for each interface of the pod's netns.
func (s *Server) podNetworkMetrics(sb sandbox.Sandbox) []*runtimeapi.Metric {
	if sb.NetNSPath == "" || sb.HostNetwork {
		return nil
	}
	ifs, err := s.pods.netns(sb.NetNSPath)
	if err != nil {
		return nil
	}
	ts := time.Now().UnixNano()
	var out []*runtimeapi.Metric
	for _, i := range ifs {
		for _, m := range networkMetrics {
			out = append(out, &runtimeapi.Metric{
				Name: m.name, Timestamp: ts, MetricType: counter,
				LabelValues: []string{sb.ID, sb.Name, "", i.Name}, Value: u64(m.value(i)),
			})
		}
	}
	return out
}
