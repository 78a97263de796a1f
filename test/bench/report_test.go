package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleReport() *Report {
	r := NewReport([]EndpointInfo{{Name: "containerd"}, {Name: "crishim"}}, "")
	r.Add("pods", "start.serial", "ms", LowerIsBetter, "containerd", 100, 200, 300)
	r.Add("pods", "start.serial", "ms", LowerIsBetter, "crishim", 50, 100, 150)
	r.Add("pull", "cold.throughput", "MiB/s", HigherIsBetter, "containerd", 40)
	r.Add("pull", "cold.throughput", "MiB/s", HigherIsBetter, "crishim", 80)
	r.Add("exec", "execsync.true", "ms", LowerIsBetter, "containerd", 30, 31)
	r.SetOutcome("exec", "containerd", StatusOK, "")
	r.SetOutcome("exec", "crishim", StatusSkipped, "ExecSync: Unimplemented")
	r.Notef("a note %d", 1)
	r.Finalize()
	return r
}

func TestReportRatios(t *testing.T) {
	r := sampleReport()
	if r.Baseline != "containerd" {
		t.Fatalf("baseline = %q, want the first endpoint", r.Baseline)
	}
	start := r.Figures[0]
	if got := start.Results["crishim"].Summary.Median; got != 100 {
		t.Fatalf("crishim median = %v, want 100", got)
	}
	ratio := start.Ratios["crishim"]
	if ratio == nil || !near(ratio.Median, 0.5) || !near(ratio.P95, 0.5) || !near(ratio.P99, 0.5) {
		t.Fatalf("start.serial ratio = %+v, want 0.5 everywhere", ratio)
	}
	if _, ok := start.Ratios["containerd"]; ok {
		t.Fatalf("the baseline has a ratio to itself")
	}
	if got := r.Figures[1].Ratios["crishim"].Median; !near(got, 2) {
		t.Fatalf("throughput ratio = %v, want 2", got)
	}
	if r.Figures[2].Ratios != nil {
		t.Fatalf("a figure measured on the baseline only has ratios: %+v", r.Figures[2].Ratios)
	}
}

func TestReportTable(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"crishim/containerd med p95 p99",
		"pods/start.serial", "200 / 290 / 298 (3)", "100 / 145 / 149 (3)", "0.50x 0.50x 0.50x",
		"pull/cold.throughput", "MiB/s ↑", "40.0 (1)", "2.00x",
		"exec/execsync.true", "skipped",
		"exec on crishim: skipped: ExecSync: Unimplemented",
		"note: a note 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "FIGURE") || !strings.HasPrefix(lines[1], "pods/start.serial") {
		t.Errorf("unexpected table head:\n%s", out)
	}
}

func TestReportJSON(t *testing.T) {
	r := sampleReport()
	r.Add("x", "zero-baseline", "ms", LowerIsBetter, "containerd", 0)
	r.Add("x", "zero-baseline", "ms", LowerIsBetter, "crishim", 1)
	r.Finalize() // ratio 1/0 is NaN: JSON must still encode
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Baseline string
		Figures  []struct {
			Scenario, Name string
			Results        map[string]struct {
				Samples []float64
				Summary Summary
			}
			Ratios map[string]Ratio
		}
		Outcomes []Outcome
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	if back.Baseline != "containerd" || len(back.Figures) != 4 {
		t.Fatalf("baseline %q, %d figures", back.Baseline, len(back.Figures))
	}
	f := back.Figures[0]
	if f.Name != "start.serial" || len(f.Results["crishim"].Samples) != 3 || f.Results["crishim"].Summary.P99 != 149 {
		t.Fatalf("first figure = %+v", f)
	}
	if f.Ratios["crishim"].Median != 0.5 {
		t.Fatalf("ratio lost in JSON: %+v", f.Ratios)
	}
	if len(back.Outcomes) != 2 || back.Outcomes[1].Status != StatusSkipped {
		t.Fatalf("outcomes = %+v", back.Outcomes)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{1234.4: "1234", 12.34: "12.3", 1.234: "1.23", 0.1234: "0.123", -5: "-5.00"} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestCheckTargets(t *testing.T) {
	r := sampleReport()
	r.Add("density", "ListPodSandbox@100", "ms", LowerIsBetter, "crishim", 1, 2, 30)
	r.Finalize()
	got := r.CheckTargets([]Target{
		{Figure: "pods/start.serial", Stat: "median", Ratio: true, Max: 0.5},
		{Figure: "pull/cold.throughput", Stat: "median", Ratio: true, Min: 2.5},
		{Figure: "density/ListPodSandbox@", Stat: "p99", Max: 10},
		{Figure: "exec/execsync.true", Stat: "median", Ratio: true, Max: 1},
	})
	if len(got) != 4 {
		t.Fatalf("%d results, want 4 (baseline not checked)", len(got))
	}
	want := []struct{ met, missing bool }{{true, false}, {false, false}, {false, false}, {false, true}}
	for i, w := range want {
		if got[i].Met != w.met || got[i].Missing != w.missing || got[i].Endpoint != "crishim" {
			t.Errorf("target %d = %+v, want met=%v missing=%v", i, got[i], w.met, w.missing)
		}
	}
	var buf bytes.Buffer
	WriteTargets(&buf, got)
	for _, s := range []string{"pods/start.serial median ≤ 0.50x: 0.50x (met)", "≥ 2.50x: 2.00x (MISSED)", "(not measured)"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("targets output lacks %q:\n%s", s, buf.String())
		}
	}
}
