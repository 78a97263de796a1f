package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress tells whoever watches a run where it is (scenario, runtime, repetition), because
// a full run prints its table only after several minutes. On a terminal it draws a bar that
// is redrawn in place; otherwise (CI logs, files) it writes plain lines, throttled to about
// one per tenth of a phase's repetitions per runtime so a log stays readable. A nil
// *Progress reports nothing.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	useBar   bool
	bar      *progressbar.ProgressBar
	prefix   string         // "[i/n] scenario"
	started  time.Time      // of the current scenario
	lastTick map[string]int // runtime → last tenth printed in this phase
}

// NewProgress returns a reporter writing to w; bar selects the redrawn bar (use it only
// when w is a terminal).
func NewProgress(w io.Writer, bar bool) *Progress {
	return &Progress{w: w, useBar: bar}
}

// Scenario announces scenario i of n (1-based).
func (p *Progress) Scenario(i, n int, name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishBar()
	p.prefix = fmt.Sprintf("[%d/%d] %s", i, n, name)
	p.started = time.Now()
	fmt.Fprintf(p.w, "bench: %s: start\n", p.prefix)
}

// Phase starts a series of reps repetitions over endpoints runtimes (one Interleave).
func (p *Progress) Phase(reps, endpoints int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastTick = map[string]int{}
	if !p.useBar {
		return
	}
	p.finishBar()
	p.bar = progressbar.NewOptions(max(reps*endpoints, 1), progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.prefix), progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(false))
}

// Step reports that repetition rep (0-based) of reps starts on runtime.
func (p *Progress) Step(runtime string, rep, reps int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s: %s %d/%d", p.prefix, runtime, rep+1, reps))
		_ = p.bar.Add(1)
		return
	}
	if p.useBar {
		return
	}
	tick := (rep + 1) * 10 / max(reps, 1)
	if last, seen := p.lastTick[runtime]; seen && tick == last && rep+1 != reps {
		return
	}
	p.lastTick[runtime] = tick
	fmt.Fprintf(p.w, "bench: %s: %s %d/%d\n", p.prefix, runtime, rep+1, reps)
}

// ScenarioDone closes the current scenario with its duration.
func (p *Progress) ScenarioDone() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishBar()
	fmt.Fprintf(p.w, "bench: %s: done in %s\n", p.prefix, time.Since(p.started).Round(time.Second))
}

// finishBar clears the bar so the next line starts clean; p.mu is held.
func (p *Progress) finishBar() {
	if p.bar == nil {
		return
	}
	_ = p.bar.Clear()
	p.bar = nil
}
