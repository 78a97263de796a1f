// Package metrics exposes crishim's Prometheus metrics: per-RPC latency histograms and error
// counts, plus gauges the daemon wiring registers (pods and containers by state, monitors,
// image pulls).
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
)

const namespace = "crishim"

// Metrics owns a private registry (no global state) and the RPC instruments.
type Metrics struct {
	reg      *prometheus.Registry
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	requests *prometheus.CounterVec
}

// New returns Metrics with the Go runtime and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "grpc_request_duration_seconds",
			Help:    "Latency of CRI RPCs by method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "grpc_request_errors_total",
			Help: "CRI RPCs that failed, by method and gRPC code.",
		}, []string{"method", "code"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "grpc_requests_total",
			Help: "CRI RPCs served, by method.",
		}, []string{"method"}),
	}
	m.reg.MustRegister(m.latency, m.errors, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRPC records one finished RPC (it satisfies cri.Observer).
func (m *Metrics) ObserveRPC(method string, code codes.Code, latency time.Duration) {
	m.requests.WithLabelValues(method).Inc()
	m.latency.WithLabelValues(method).Observe(latency.Seconds())
	if code != codes.OK {
		m.errors.WithLabelValues(method, code.String()).Inc()
	}
}

// Register adds collectors (gauges of pods, containers, monitors, pulls) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler returns the /metrics HTTP handler.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve serves /metrics on addr until ctx ends. It returns the bound address at once.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, <-chan error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(lis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return lis.Addr(), errc, nil
}

// GaugeFunc returns a collector for a value computed at scrape time, labelled by key (e.g.
// container counts by state).
func GaugeFunc(name, help, label string, f func() map[string]float64) prometheus.Collector {
	return &labelledGauge{desc: prometheus.NewDesc(namespace+"_"+name, help, []string{label}, nil), f: f}
}

type labelledGauge struct {
	desc *prometheus.Desc
	f    func() map[string]float64
}

func (g *labelledGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *labelledGauge) Collect(ch chan<- prometheus.Metric) {
	for k, v := range g.f() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, k)
	}
}
