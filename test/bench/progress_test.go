package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressLinesPerStep(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false)
	p.Scenario(2, 8, "pods")
	p.Phase(20, 2)
	for rep := range 20 {
		for _, rt := range []string{"containerd", "crishim"} {
			p.Step(rt, rep, 20)
		}
	}
	p.ScenarioDone()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, want := range []string{
		"bench: [2/8] pods: start",
		"bench: [2/8] pods: containerd 1/20",
		"bench: [2/8] pods: crishim 1/20",
		"bench: [2/8] pods: crishim 20/20",
		"bench: [2/8] pods: done in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// every tenth of the repetitions per runtime, not one line per call: 2 runtimes × 11 + start + done
	if len(lines) > 2*11+2 || len(lines) < 2*10 {
		t.Errorf("%d lines, want about 24 (throttled to tenths):\n%s", len(lines), out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("plain mode wrote a carriage return (a bar) into a log:\n%q", out)
	}
}

func TestProgressFewReps(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false)
	p.Scenario(1, 1, "density")
	p.Phase(1, 1)
	p.Step("crishim", 0, 1)
	if got := buf.String(); !strings.Contains(got, "density: crishim 1/1\n") {
		t.Errorf("a single repetition gets a line; got:\n%s", got)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true)
	p.Scenario(3, 8, "pull")
	p.Phase(5, 2)
	for rep := range 5 {
		p.Step("containerd", rep, 5)
		p.Step("crishim", rep, 5)
	}
	p.ScenarioDone()
	out := buf.String()
	if !strings.Contains(out, "[3/8] pull") || !strings.Contains(out, "\r") {
		t.Errorf("bar mode: want a redrawn bar naming the scenario, got %q", out)
	}
	if !strings.Contains(out, "bench: [3/8] pull: done in ") {
		t.Errorf("bar mode: want a done line, got %q", out)
	}
}

func TestProgressNilIsNoop(t *testing.T) {
	var p *Progress
	p.Scenario(1, 1, "x")
	p.Phase(1, 1)
	p.Step("a", 0, 1)
	p.ScenarioDone()
}
