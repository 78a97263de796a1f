package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Target is a goal for one figure of a non-baseline endpoint: a bound on the ratio to the
// baseline, or on the absolute value.
type Target struct {
	Figure string  // "scenario/name"; a name ending in "@" matches any "@N" suffix
	Stat   string  // median, p95 or p99
	Ratio  bool    // bound the ratio to the baseline instead of the value
	Max    float64 // the figure must be ≤ Max (when Max > 0)
	Min    float64 // the figure must be ≥ Min (when Min > 0)
}

// IssueTargets are the goals crishim's benchmark issue sets against containerd.
var IssueTargets = []Target{
	{Figure: "pods/start.serial", Stat: "median", Ratio: true, Max: 0.5},
	{Figure: "pods/start.serial", Stat: "p99", Ratio: true, Max: 0.5},
	{Figure: "pull/cold.throughput", Stat: "median", Ratio: true, Min: 1.5},
	{Figure: "density/overhead/pod (pss+daemon growth)", Stat: "median", Ratio: true, Max: 1.0 / 3},
	{Figure: "density/ListPodSandbox@", Stat: "p99", Max: 10},
	{Figure: "density/ListContainers@", Stat: "p99", Max: 10},
	{Figure: "density/ListContainerStats@", Stat: "p99", Max: 10},
}

// TargetResult is a target checked on one endpoint.
type TargetResult struct {
	Target
	Endpoint string  `json:"endpoint"`
	Value    float64 `json:"value"`
	Met      bool    `json:"met"`
	Missing  bool    `json:"missing"` // the figure was not measured
}

func (t Target) matches(f *Figure) bool {
	name := f.Scenario + "/" + f.Name
	if strings.HasSuffix(t.Figure, "@") {
		return strings.HasPrefix(name, t.Figure)
	}
	return name == t.Figure
}

func pick(stat string, median, p95, p99 float64) float64 {
	switch stat {
	case "p95":
		return p95
	case "p99":
		return p99
	}
	return median
}

// CheckTargets checks every target on every non-baseline endpoint of a finalized report.
func (r *Report) CheckTargets(targets []Target) []TargetResult {
	var out []TargetResult
	for _, e := range r.Endpoints {
		if e.Name == r.Baseline {
			continue
		}
		for _, t := range targets {
			res := TargetResult{Target: t, Endpoint: e.Name, Missing: true, Value: math.NaN()}
			for _, f := range r.Figures {
				if !t.matches(f) {
					continue
				}
				if t.Ratio {
					if ra := f.Ratios[e.Name]; ra != nil {
						res.Value, res.Missing = pick(t.Stat, ra.Median, ra.P95, ra.P99), false
					}
				} else if s := f.Results[e.Name]; s != nil && s.Summary.Count > 0 {
					res.Value, res.Missing = pick(t.Stat, s.Summary.Median, s.Summary.P95, s.Summary.P99), false
				}
			}
			res.Met = !res.Missing && !math.IsNaN(res.Value) &&
				(t.Max <= 0 || res.Value <= t.Max) && (t.Min <= 0 || res.Value >= t.Min)
			res.Value = finite(res.Value) // JSON has no NaN
			out = append(out, res)
		}
	}
	return out
}

// WriteTargets prints one line per checked target.
func WriteTargets(w io.Writer, results []TargetResult) {
	for _, t := range results {
		bound, unit := "", "ms"
		if t.Ratio {
			unit = "x"
		}
		if t.Max > 0 {
			bound = fmt.Sprintf("≤ %.2f%s", t.Max, unit)
		} else {
			bound = fmt.Sprintf("≥ %.2f%s", t.Min, unit)
		}
		verdict := "MISSED"
		switch {
		case t.Missing:
			verdict = "not measured"
		case t.Met:
			verdict = "met"
		}
		val := "-"
		switch {
		case t.Missing:
		case t.Ratio:
			val = fmtRatio(t.Value)
		default:
			val = FormatNumber(t.Value) + unit
		}
		fmt.Fprintf(w, "target %s: %s %s %s: %s (%s)\n", t.Endpoint, t.Figure, t.Stat, bound, val, verdict)
	}
}
