package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pulls holds the image pull instruments; create it with Metrics.Pulls.
type Pulls struct {
	duration *prometheus.HistogramVec
	bytes    prometheus.Counter
}

// Pulls registers and returns the image pull instruments: a duration histogram by result
// ("success" or "failure") and a counter of downloaded bytes.
func (m *Metrics) Pulls() (*Pulls, error) {
	p := &Pulls{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "image_pull_duration_seconds",
			Help:    "Duration of image pulls by result.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "image_pull_bytes_total",
			Help: "Bytes downloaded from registries by image pulls.",
		}),
	}
	if err := m.Register(p.duration, p.bytes); err != nil {
		return nil, err
	}
	return p, nil
}

// Observe records one finished pull.
func (p *Pulls) Observe(bytes int64, d time.Duration, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	p.duration.WithLabelValues(result).Observe(d.Seconds())
	if bytes > 0 {
		p.bytes.Add(float64(bytes))
	}
}

// Gauge returns a collector for one value computed at scrape time.
func Gauge(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f)
}
