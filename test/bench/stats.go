// Package bench is a CRI benchmark: it drives any number of CRI endpoints through the same
// scenarios, interleaving the runtimes repetition by repetition, and reports median, p95 and
// p99 of every figure with the ratio of each runtime to a baseline measured in the same run.
package bench

import (
	"math"
	"slices"
)

// Summary describes the distribution of one figure's samples.
type Summary struct {
	Count  int     `json:"count"`
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize computes the summary of samples (which it does not modify). Percentiles
// interpolate linearly between the closest ranks, like numpy's default.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	return Summary{
		Count:  len(sorted),
		Median: Percentile(sorted, 50),
		P95:    Percentile(sorted, 95),
		P99:    Percentile(sorted, 99),
		Mean:   sum / float64(len(sorted)),
		Min:    sorted[0],
		Max:    sorted[len(sorted)-1],
	}
}

// Percentile returns the p-th percentile (0..100) of sorted samples, interpolating linearly
// between the two closest ranks; NaN when there are no samples.
func Percentile(sorted []float64, p float64) float64 {
	switch n := len(sorted); {
	case n == 0:
		return math.NaN()
	case n == 1 || p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	frac := pos - float64(lo)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// Slope returns the least-squares slope of ys against xs; NaN with fewer than three points
// or no spread in xs.
func Slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 3 || len(xs) != len(ys) {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
		sxx, sxy = sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}
