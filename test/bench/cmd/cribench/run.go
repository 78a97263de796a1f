package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crishim/crishim/test/bench"
	"golang.org/x/term"
)

// endpointFlags are the flags describing the runtimes under test.
type endpointFlags struct {
	endpoints, pids, procs multiFlag
}

func (f *endpointFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.endpoints, "endpoint", "name=unix:///path/to/cri.sock (repeatable; the first is the baseline unless --baseline)")
	fs.Var(&f.pids, "daemon-pid", "name=PID of the runtime daemon, for memory figures (repeatable)")
	fs.Var(&f.procs, "pod-procs", "name=substr[,substr…]: substrings of the command line of the runtime's per-pod processes (repeatable)")
}

// build parses the endpoint flags and dials every endpoint.
func (f *endpointFlags) build() ([]*bench.Endpoint, error) {
	var eps []*bench.Endpoint
	byName := map[string]*bench.Endpoint{}
	for _, s := range f.endpoints {
		e, err := bench.ParseEndpoint(s)
		if err != nil {
			return nil, err
		}
		if byName[e.Name] != nil {
			return nil, fmt.Errorf("endpoint %q given twice", e.Name)
		}
		if err := e.Dial(); err != nil {
			return nil, err
		}
		eps, byName[e.Name] = append(eps, e), e
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("no --endpoint given")
	}
	for _, s := range f.pids {
		name, v, _ := strings.Cut(s, "=")
		pid, err := strconv.Atoi(v)
		if byName[name] == nil || err != nil {
			return nil, fmt.Errorf("--daemon-pid %q: want name=PID for a known endpoint", s)
		}
		byName[name].DaemonPID = pid
	}
	for _, s := range f.procs {
		name, v, _ := strings.Cut(s, "=")
		if byName[name] == nil || v == "" {
			return nil, fmt.Errorf("--pod-procs %q: want name=substr[,substr…] for a known endpoint", s)
		}
		byName[name].PodProcs = strings.Split(v, ",")
	}
	return eps, nil
}

func cmdRun(ctx context.Context, args []string) error {
	o := bench.DefaultOptions()
	fs := flag.NewFlagSet("cribench run", flag.ExitOnError)
	var ef endpointFlags
	ef.register(fs)
	baseline := fs.String("baseline", "", "endpoint the ratios are relative to (default: the first)")
	regListen := fs.String("registry-listen", "127.0.0.1:0", "address of the in-process registry")
	regHost := fs.String("registry-host", "", "registry name used in image references (a host the runtimes mirror to --registry-listen); default: the listen address")
	helperBin := fs.String("helper-bin", "", "static benchhelper binary for the images (default: go build it)")
	scenarios := fs.String("scenarios", strings.Join(bench.ScenarioNames(), ","), "comma-separated scenarios to run")
	jsonOut := fs.String("json", "cribench.json", "write the JSON report here")
	verbose := fs.Bool("v", false, "log each step to stderr (slog)")
	progress := fs.String("progress", "auto", "progress on stderr: bar, lines, none, or auto (a bar when stderr is a terminal and -v is off, else lines)")
	targets := fs.Bool("targets", true, "check crishim's targets (issue 7) on every non-baseline endpoint")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "warm-up pods per endpoint")
	fs.IntVar(&o.Serial, "serial", o.Serial, "serial pod starts per endpoint")
	fs.IntVar(&o.Batches, "batches", o.Batches, "concurrent batches per endpoint")
	fs.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "pods per concurrent batch")
	fs.IntVar(&o.PullReps, "pull-reps", o.PullReps, "cold pull repetitions per endpoint")
	fs.IntVar(&o.PullLayers, "pull-layers", o.PullLayers, "layers of the cold-pull image")
	fs.IntVar(&o.PullLayerMB, "pull-layer-mb", o.PullLayerMB, "compressed MiB per cold-pull layer")
	fs.IntVar(&o.DensityPods, "density-pods", o.DensityPods, "pods running for the density figures")
	fs.IntVar(&o.ListCalls, "list-calls", o.ListCalls, "calls of each List RPC")
	fs.IntVar(&o.ExecCalls, "exec-calls", o.ExecCalls, "ExecSync calls")
	fs.IntVar(&o.StatsCalls, "stats-calls", o.StatsCalls, "ContainerStats calls")
	fs.IntVar(&o.EventReps, "event-reps", o.EventReps, "container start/stop cycles watched through GetContainerEvents")
	fs.DurationVar(&o.RPCTimeout, "rpc-timeout", o.RPCTimeout, "deadline of each RPC")
	fs.StringVar(&o.CgroupParent, "cgroup-parent", "/cribench", "pod cgroups go below <this>/<endpoint>/ (cgroupfs path); empty = runtime default")
	fs.StringVar(&o.LogDir, "log-dir", "", "pod log directories go below it (default: a temp dir, removed at the end)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Scenarios = strings.Split(*scenarios, ",")
	for _, s := range o.Scenarios {
		if !contains(bench.ScenarioNames(), s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(bench.ScenarioNames(), ","))
		}
	}
	eps, err := ef.build()
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range eps {
			e.Close()
		}
	}()
	tmp, err := os.MkdirTemp("", "cribench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.LogDir == "" {
		o.LogDir = filepath.Join(tmp, "logs")
	}
	prog, err := newProgress(*progress, *verbose, term.IsTerminal(int(os.Stderr.Fd())))
	if err != nil {
		return err
	}
	r := &bench.Runner{Opts: o, Endpoints: eps, Log: newLogger(*verbose), RunID: bench.NewRunID(), Targets: bench.IssueTargets, Progress: prog}
	if !*targets {
		r.Targets = []bench.Target{}
	}
	return run(ctx, r, *baseline, *regListen, *regHost, *helperBin, tmp, *jsonOut)
}

func run(ctx context.Context, r *bench.Runner, baseline, regListen, regHost, helperBin, tmp, jsonOut string) error {
	var err error
	if helperBin == "" {
		if helperBin, err = bench.BuildHelper(ctx, tmp); err != nil {
			return err
		}
	}
	if r.Registry, err = bench.StartRegistry(regListen, regHost); err != nil {
		return err
	}
	defer r.Registry.Close()
	if err := r.PushFixtures(ctx, helperBin); err != nil {
		return err
	}
	var infos []bench.EndpointInfo
	for _, e := range r.Endpoints {
		infos = append(infos, e.Info(ctx))
	}
	r.Report = bench.NewReport(infos, baseline)
	r.Report.Host, r.Report.Options = bench.HostInfo(), r.Opts
	r.Log.Info("registry up", "addr", r.Registry.Addr, "sleeper", r.SleeperImage, "run", r.RunID)
	r.EnsureImages(ctx)
	runErr := r.Run(ctx)
	r.Cleanup(context.WithoutCancel(ctx))
	r.Report.Finalize()
	r.Report.Targets = r.Report.CheckTargets(r.Targets)
	if err := r.Report.WriteTable(os.Stdout); err != nil {
		return err
	}
	f, err := os.Create(jsonOut)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.Report.WriteJSON(f); err != nil {
		return err
	}
	fmt.Println("JSON report:", jsonOut)
	return runErr
}

// newProgress picks the progress reporter for mode; a bar only on a terminal, and not with
// -v, whose log lines would tear it.
func newProgress(mode string, verbose, tty bool) (*bench.Progress, error) {
	switch mode {
	case "none":
		return nil, nil
	case "lines":
		return bench.NewProgress(os.Stderr, false), nil
	case "bar":
		return bench.NewProgress(os.Stderr, true), nil
	case "auto":
		return bench.NewProgress(os.Stderr, tty && !verbose), nil
	}
	return nil, fmt.Errorf("--progress %q: want auto, bar, lines or none", mode)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
