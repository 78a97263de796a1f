package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Directions of improvement of a figure.
const (
	LowerIsBetter  = "lower"
	HigherIsBetter = "higher"
)

// Outcome statuses of a scenario on one endpoint.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// Figure is one measured quantity (a latency, a size, a rate) with its samples per endpoint.
type Figure struct {
	Scenario string             `json:"scenario"`
	Name     string             `json:"name"`
	Unit     string             `json:"unit"`
	Better   string             `json:"better"`
	Results  map[string]*Result `json:"results"`
	// Ratios maps each non-baseline endpoint to its figures divided by the baseline's.
	Ratios map[string]*Ratio `json:"ratios,omitempty"`
}

// Result holds the samples of a figure on one endpoint and their summary.
type Result struct {
	Samples []float64 `json:"samples"`
	Summary Summary   `json:"summary"`
}

// Ratio is endpoint/baseline for the median, p95 and p99 of a figure.
type Ratio struct {
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
}

// Outcome says how a scenario went on one endpoint, with the reason when it did not run.
type Outcome struct {
	Scenario string `json:"scenario"`
	Endpoint string `json:"endpoint"`
	Status   string `json:"status"`
	Note     string `json:"note,omitempty"`
}

// EndpointInfo describes a runtime under test.
type EndpointInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Runtime string `json:"runtime,omitempty"`
	Version string `json:"version,omitempty"`
}

// Report collects every figure of a run. It is safe for concurrent use until Finalize.
type Report struct {
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished"`
	Host      map[string]any `json:"host,omitempty"`
	Baseline  string         `json:"baseline"`
	Endpoints []EndpointInfo `json:"endpoints"`
	Options   any            `json:"options,omitempty"`
	Figures   []*Figure      `json:"figures"`
	Outcomes  []*Outcome     `json:"outcomes"`
	Notes     []string       `json:"notes,omitempty"`
	// Targets are the goals checked on this run (see CheckTargets).
	Targets []TargetResult `json:"targets,omitempty"`

	mu sync.Mutex
}

// NewReport starts a report over the given endpoints; the first one is the baseline unless
// baseline names another.
func NewReport(endpoints []EndpointInfo, baseline string) *Report {
	if baseline == "" && len(endpoints) > 0 {
		baseline = endpoints[0].Name
	}
	return &Report{Started: time.Now().UTC(), Baseline: baseline, Endpoints: endpoints}
}

// Add appends samples of a figure measured on an endpoint, creating the figure on first use.
func (r *Report) Add(scenario, name, unit, better, endpoint string, samples ...float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.figure(scenario, name, unit, better)
	res := f.Results[endpoint]
	if res == nil {
		res = &Result{}
		f.Results[endpoint] = res
	}
	res.Samples = append(res.Samples, samples...)
}

func (r *Report) figure(scenario, name, unit, better string) *Figure {
	for _, f := range r.Figures {
		if f.Scenario == scenario && f.Name == name {
			return f
		}
	}
	f := &Figure{Scenario: scenario, Name: name, Unit: unit, Better: better, Results: map[string]*Result{}}
	r.Figures = append(r.Figures, f)
	return f
}

// SetOutcome records how a scenario went on an endpoint (the last call wins).
func (r *Report) SetOutcome(scenario, endpoint, status, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.Outcomes {
		if o.Scenario == scenario && o.Endpoint == endpoint {
			o.Status, o.Note = status, note
			return
		}
	}
	r.Outcomes = append(r.Outcomes, &Outcome{Scenario: scenario, Endpoint: endpoint, Status: status, Note: note})
}

// Notef adds a free-form note printed under the table.
func (r *Report) Notef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Finalize computes every summary and ratio and stamps the finish time.
func (r *Report) Finalize() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Finished = time.Now().UTC()
	for _, f := range r.Figures {
		for _, res := range f.Results {
			res.Summary = Summarize(res.Samples)
		}
		base := f.Results[r.Baseline]
		f.Ratios = nil
		if base == nil || base.Summary.Count == 0 {
			continue
		}
		for name, res := range f.Results {
			if name == r.Baseline || res.Summary.Count == 0 {
				continue
			}
			if f.Ratios == nil {
				f.Ratios = map[string]*Ratio{}
			}
			f.Ratios[name] = &Ratio{
				Median: ratio(res.Summary.Median, base.Summary.Median),
				P95:    ratio(res.Summary.P95, base.Summary.P95),
				P99:    ratio(res.Summary.P99, base.Summary.P99),
			}
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// WriteJSON writes the finalized report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonSafe(r))
}

// jsonSafe returns a copy of the report whose NaN/Inf values are replaced by zero (JSON has
// no NaN); samples are never NaN.
func jsonSafe(r *Report) *Report {
	c := &Report{Started: r.Started, Finished: r.Finished, Host: r.Host, Baseline: r.Baseline,
		Endpoints: r.Endpoints, Options: r.Options, Outcomes: r.Outcomes, Notes: r.Notes, Targets: r.Targets}
	for _, f := range r.Figures {
		fc := *f
		if f.Ratios != nil {
			fc.Ratios = map[string]*Ratio{}
			for k, v := range f.Ratios {
				fc.Ratios[k] = &Ratio{Median: finite(v.Median), P95: finite(v.P95), P99: finite(v.P99)}
			}
		}
		c.Figures = append(c.Figures, &fc)
	}
	return c
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// WriteTable prints one row per figure: per endpoint "median p95 p99 (n)", then the ratio of
// every other endpoint to the baseline; then the scenarios that were skipped or failed.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	others := []string{}
	head := []string{"FIGURE", "UNIT"}
	for _, e := range r.Endpoints {
		head = append(head, e.Name+" med / p95 / p99 (n)")
		if e.Name != r.Baseline {
			others = append(others, e.Name)
		}
	}
	for _, o := range others {
		head = append(head, o+"/"+r.Baseline+" med p95 p99")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, f := range r.Figures {
		row := []string{f.Scenario + "/" + f.Name, f.Unit + betterMark(f.Better)}
		for _, e := range r.Endpoints {
			row = append(row, r.cell(f, e.Name))
		}
		for _, o := range others {
			row = append(row, ratioCell(f.Ratios[o]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Outcomes {
		if o.Status != StatusOK {
			fmt.Fprintf(w, "%s on %s: %s: %s\n", o.Scenario, o.Endpoint, o.Status, o.Note)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	WriteTargets(w, r.Targets)
	return nil
}

func betterMark(b string) string {
	if b == HigherIsBetter {
		return " ↑"
	}
	return " ↓"
}

func (r *Report) cell(f *Figure, endpoint string) string {
	res := f.Results[endpoint]
	if res == nil || res.Summary.Count == 0 {
		for _, o := range r.Outcomes {
			if o.Scenario == f.Scenario && o.Endpoint == endpoint && o.Status != StatusOK {
				return o.Status
			}
		}
		return "-"
	}
	s := res.Summary
	if s.Count == 1 {
		return FormatNumber(s.Median) + " (1)"
	}
	return fmt.Sprintf("%s / %s / %s (%d)", FormatNumber(s.Median), FormatNumber(s.P95), FormatNumber(s.P99), s.Count)
}

func ratioCell(r *Ratio) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s %s", fmtRatio(r.Median), fmtRatio(r.P95), fmtRatio(r.P99))
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", v)
}

// FormatNumber prints v with about three significant digits (no exponent below 1e6).
func FormatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
