package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Options are the knobs of a run; DefaultOptions keeps a two-runtime run under 10 minutes on
// 2 cores.
type Options struct {
	Scenarios    []string      `json:"scenarios"`
	Warmup       int           `json:"warmup"`        // pods started and removed per endpoint before measuring
	Serial       int           `json:"serial"`        // serial pod starts per endpoint
	Batches      int           `json:"batches"`       // concurrent batches per endpoint
	BatchSize    int           `json:"batch_size"`    // pods per concurrent batch
	PullReps     int           `json:"pull_reps"`     // cold pulls per endpoint
	PullLayers   int           `json:"pull_layers"`   // layers of the cold image
	PullLayerMB  int           `json:"pull_layer_mb"` // compressed MiB per layer (about)
	DensityPods  int           `json:"density_pods"`  // pods held running for the density figures
	ListCalls    int           `json:"list_calls"`    // calls of each List* RPC
	ExecCalls    int           `json:"exec_calls"`    // ExecSync calls
	StatsCalls   int           `json:"stats_calls"`   // ContainerStats calls
	EventReps    int           `json:"event_reps"`    // container start/stop cycles watched through GetContainerEvents
	RPCTimeout   time.Duration `json:"-"`             // deadline of each RPC
	CgroupParent string        `json:"cgroup_parent"` // pod cgroups go below it (cgroupfs path); "" = runtime default
	LogDir       string        `json:"log_dir"`       // pod log directories go below it
}

// DefaultOptions returns the default repeat counts.
func DefaultOptions() Options {
	return Options{
		Scenarios: ScenarioNames(), Warmup: 2, Serial: 40, Batches: 5, BatchSize: 10,
		PullReps: 5, PullLayers: 5, PullLayerMB: 20, DensityPods: 100, ListCalls: 200,
		ExecCalls: 200, StatsCalls: 200, EventReps: 10, RPCTimeout: 2 * time.Minute,
	}
}

// Runner drives the scenarios over the endpoints and fills the report.
type Runner struct {
	Opts      Options
	Endpoints []*Endpoint
	Registry  *Registry
	Report    *Report
	Log       *slog.Logger
	// RunID is unique per run; it labels every pod so cleanup finds them.
	RunID string
	// SleeperImage runs /bin/sleep infinity; PauseImage is served for runtimes that need an
	// infra image (configure it as containerd's sandbox_image).
	SleeperImage, PauseImage string
	// Targets are checked on every non-baseline endpoint at the end of the run.
	Targets []Target
	// Progress, when set, is told each scenario, runtime and repetition as the run goes.
	Progress *Progress
}

// Scenario is one benchmark scenario. Run measures every endpoint, interleaving them, and
// records figures and outcomes through the ScenarioRun.
type Scenario struct {
	Name string
	Doc  string
	Run  func(ctx context.Context, s *ScenarioRun)
}

// Scenarios lists every scenario in run order; add new ones here.
var Scenarios = []Scenario{
	{Name: "pods", Doc: "pod + container to running (serial, concurrent batches), then stop + remove", Run: runPods},
	{Name: "hostnet", Doc: "serial pod + container start and stop + remove with host network (no CNI)", Run: runHostNet},
	{Name: "sandbox", Doc: "pod sandbox alone: RunPodSandbox, StopPodSandbox, RemovePodSandbox (serial)", Run: runSandbox},
	{Name: "pull", Doc: "cold pull of a multi-layer image, then an image sharing all but one layer", Run: runPull},
	{Name: "density", Doc: "N pods running: daemon RSS, per-pod process memory, List* latency", Run: runDensity},
	{Name: "exec", Doc: "ExecSync latency of /bin/true in a running container", Run: runExec},
	{Name: "stats", Doc: "ContainerStats latency on a running container", Run: runStats},
	{Name: "events", Doc: "GetContainerEvents delivery latency for container start and stop", Run: runEvents},
}

// ScenarioNames returns the names of every scenario.
func ScenarioNames() []string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = s.Name
	}
	return names
}

// NewRunID returns a short random run identifier.
func NewRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs the selected scenarios in order, then removes every pod the run left behind.
func (r *Runner) Run(ctx context.Context) error {
	var selected []Scenario
	for _, sc := range Scenarios {
		if slices.Contains(r.Opts.Scenarios, sc.Name) {
			selected = append(selected, sc)
		}
	}
	for i, sc := range selected {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		start := time.Now()
		r.Log.Info("scenario start", "scenario", sc.Name)
		r.Progress.Scenario(i+1, len(selected), sc.Name)
		s := &ScenarioRun{Name: sc.Name, R: r, state: map[string]string{}}
		sc.Run(ctx, s)
		for _, e := range r.Endpoints {
			if _, done := s.state[e.Name]; !done {
				r.Report.SetOutcome(sc.Name, e.Name, StatusOK, "")
			}
		}
		r.Log.Info("scenario done", "scenario", sc.Name, "took", time.Since(start).Round(time.Millisecond))
		r.Cleanup(context.WithoutCancel(ctx))
		r.Progress.ScenarioDone()
	}
	return nil
}

// ScenarioRun is the state of one scenario: which endpoints are still measured.
type ScenarioRun struct {
	Name string
	R    *Runner

	mu    sync.Mutex
	state map[string]string // endpoint → status once skipped or failed
}

// Active reports whether the endpoint is still measured in this scenario.
func (s *ScenarioRun) Active(e *Endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, done := s.state[e.Name]
	return !done
}

// Fail stops measuring e in this scenario: skipped when err is Unimplemented, else failed.
// It returns false when err is nil.
func (s *ScenarioRun) Fail(e *Endpoint, err error) bool {
	if err == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, done := s.state[e.Name]; done {
		return true
	}
	st := StatusFailed
	if IsUnimplemented(err) {
		st = StatusSkipped
	}
	s.state[e.Name] = st
	s.R.Report.SetOutcome(s.Name, e.Name, st, err.Error())
	s.R.Log.Warn("scenario stops on endpoint", "scenario", s.Name, "endpoint", e.Name, "status", st, "err", err)
	return true
}

// Record adds samples of a figure measured on e.
func (s *ScenarioRun) Record(e *Endpoint, name, unit, better string, v ...float64) {
	s.R.Report.Add(s.Name, name, unit, better, e.Name, v...)
}

// Interleave runs fn for reps repetitions, each repetition on every active endpoint in
// turn (A, B, A, B …) so machine noise spreads evenly. An error stops that endpoint.
func (s *ScenarioRun) Interleave(ctx context.Context, reps int, fn func(ctx context.Context, e *Endpoint, rep int) error) {
	s.R.Progress.Phase(reps, len(slices.DeleteFunc(slices.Clone(s.R.Endpoints), func(e *Endpoint) bool { return !s.Active(e) })))
	for rep := range reps {
		for _, e := range s.R.Endpoints {
			if ctx.Err() != nil {
				return
			}
			if s.Active(e) {
				s.R.Progress.Step(e.Name, rep, reps)
				s.Fail(e, fn(ctx, e, rep))
			}
		}
	}
}

// Each runs fn once on every active endpoint in order.
func (s *ScenarioRun) Each(ctx context.Context, fn func(ctx context.Context, e *Endpoint) error) {
	s.Interleave(ctx, 1, func(ctx context.Context, e *Endpoint, _ int) error { return fn(ctx, e) })
}

// rpcCtx returns a context with the per-RPC deadline.
func (r *Runner) rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.Opts.RPCTimeout)
}

// Cleanup stops and removes every pod this run created (tracked ids, plus any pod carrying
// this run's label) on every endpoint; errors are logged.
func (r *Runner) Cleanup(ctx context.Context) {
	for _, e := range r.Endpoints {
		ids := e.TrackedPods()
		lctx, cancel := r.rpcCtx(ctx)
		resp, err := e.RT.ListPodSandbox(lctx, &runtimeapi.ListPodSandboxRequest{
			Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelRun: r.RunID}}})
		cancel()
		if err == nil {
			for _, p := range resp.Items {
				if !slices.Contains(ids, p.Id) {
					ids = append(ids, p.Id)
				}
			}
		}
		if len(ids) > 0 {
			r.Log.Info("cleanup", "endpoint", e.Name, "pods", len(ids))
		}
		parallel(len(ids), 10, func(i int) {
			if err := r.RemovePod(ctx, e, ids[i]); err != nil {
				r.Log.Warn("cleanup: remove pod", "endpoint", e.Name, "pod", ids[i], "err", err)
			}
		})
	}
}

// parallel runs fn(0..n-1) with at most width running at once.
func parallel(n, width int, fn func(i int)) {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// HostInfo describes the machine for the report.
func HostInfo() map[string]any {
	h := map[string]any{"cpus": numCPU()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = string(trimNL(b))
	}
	if kb, err := procField("/proc/meminfo", "MemTotal:"); err == nil {
		h["mem_total_mib"] = kb / 1024
	}
	return h
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// errorf builds an error naming the endpoint.
func errorf(e *Endpoint, format string, args ...any) error {
	return fmt.Errorf("%s: %s", e.Name, fmt.Sprintf(format, args...))
}

func numCPU() int { return goruntime.NumCPU() }
