package cgstats

import (
	"sync"
	"time"
)

// Rates turns cumulative CPU usage into nano-cores between two samples of the same key. It
// keeps the previous sample per key; safe for concurrent use.
type Rates struct {
	mu   sync.Mutex
	prev map[string]cpuPoint
}

type cpuPoint struct {
	at    time.Time
	usage uint64
}

// NewRates returns an empty tracker.
func NewRates() *Rates { return &Rates{prev: map[string]cpuPoint{}} }

// NanoCores records (at, usage) for key and returns the average CPU use since the previous
// sample of key, in nano-cores (1e9 = one core busy). ok is false for the first sample, when
// time did not advance or when the counter went back (a new cgroup under the same key).
func (r *Rates) NanoCores(key string, at time.Time, usage uint64) (nano uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, seen := r.prev[key]
	if seen && !at.After(p.at) {
		// An older or concurrent reading: keep the newer point.
		return 0, false
	}
	r.prev[key] = cpuPoint{at: at, usage: usage}
	if !seen || usage < p.usage {
		return 0, false
	}
	dt := at.Sub(p.at).Nanoseconds()
	return uint64(float64(usage-p.usage) / float64(dt) * 1e9), true
}

// Forget drops the samples of key (the container or pod is gone).
func (r *Rates) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.prev, key)
}
