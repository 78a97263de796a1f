package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// labelRun labels every pod and container of a run with its RunID.
const labelRun = "cribench.run"

// Pod is a pod started by the benchmark with its one container.
type Pod struct {
	ID, ContainerID string
	Config          *runtimeapi.PodSandboxConfig
	// Phases are the durations of RunPodSandbox, CreateContainer and StartContainer.
	Phases [3]time.Duration
}

// phaseNames name Pod.Phases in figures.
var phaseNames = [3]string{"runpodsandbox", "createcontainer", "startcontainer"}

func randomUID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// PodConfig returns the sandbox config of a pod named name on e, as kubelet would send it
// (pod network namespace, per-container PID namespace, a log directory, a cgroup parent).
func (r *Runner) PodConfig(e *Endpoint, name string) *runtimeapi.PodSandboxConfig {
	uid := randomUID()
	nsOpts := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD,
		Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: "cribench"},
		Hostname:     name,
		LogDirectory: filepath.Join(r.Opts.LogDir, e.Name, uid),
		Labels:       map[string]string{labelRun: r.RunID},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: nsOpts},
		},
	}
	if r.Opts.CgroupParent != "" {
		cfg.Linux.CgroupParent = path.Join(r.Opts.CgroupParent, e.Name, "pod"+uid)
	}
	return cfg
}

// ContainerConfig returns the config of a container running /bin/sleep infinity
// (WorkloadCmdline: the memory figures leave these processes out).
func (r *Runner) ContainerConfig(name string, pod *runtimeapi.PodSandboxConfig) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: r.SleeperImage},
		Command:  []string{"/bin/sleep"},
		Args:     []string{"infinity"},
		LogPath:  name + ".log",
		Labels:   map[string]string{labelRun: r.RunID},
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions},
		},
	}
}

// StartPod runs a pod with one sleeper container up to "container running" and returns the
// time from RunPodSandbox to the return of StartContainer.
func (r *Runner) StartPod(ctx context.Context, e *Endpoint, name string) (Pod, time.Duration, error) {
	return r.StartPodConfig(ctx, e, r.PodConfig(e, name))
}

// StartPodConfig is StartPod with a prepared sandbox config.
func (r *Runner) StartPodConfig(ctx context.Context, e *Endpoint, cfg *runtimeapi.PodSandboxConfig) (Pod, time.Duration, error) {
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return Pod{}, 0, err
	}
	ctx, cancel := r.rpcCtx(ctx)
	defer cancel()
	start := time.Now()
	run, err := e.RT.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return Pod{}, 0, rpcErr("RunPodSandbox", err)
	}
	pod := Pod{ID: run.PodSandboxId, Config: cfg}
	e.trackPod(pod.ID, true)
	t1 := time.Now()
	pod.Phases[0] = t1.Sub(start)
	ctr, err := e.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.ID, Config: r.ContainerConfig("sleeper", cfg), SandboxConfig: cfg})
	if err != nil {
		return pod, 0, rpcErr("CreateContainer", err)
	}
	pod.ContainerID = ctr.ContainerId
	t2 := time.Now()
	pod.Phases[1] = t2.Sub(t1)
	if _, err := e.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: pod.ContainerID}); err != nil {
		return pod, 0, rpcErr("StartContainer", err)
	}
	pod.Phases[2] = time.Since(t2)
	return pod, time.Since(start), nil
}

// RemovePod stops and removes a pod (StopPodSandbox then RemovePodSandbox).
func (r *Runner) RemovePod(ctx context.Context, e *Endpoint, id string) error {
	ctx, cancel := r.rpcCtx(ctx)
	defer cancel()
	if _, err := e.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return rpcErr("StopPodSandbox", err)
	}
	if _, err := e.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return rpcErr("RemovePodSandbox", err)
	}
	e.trackPod(id, false)
	return nil
}

// StartBatch starts n pods at once; it returns the pods that started, each one's latency,
// the wall time of the batch and the first error.
func (r *Runner) StartBatch(ctx context.Context, e *Endpoint, prefix string, n int) ([]Pod, []float64, time.Duration, error) {
	pods := make([]Pod, n)
	lat := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			var d time.Duration
			pods[i], d, errs[i] = r.StartPod(ctx, e, fmt.Sprintf("%s-%d", prefix, i))
			lat[i] = ms(d)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := firstError(errs); err != nil {
		return nil, nil, wall, err
	}
	return pods, lat, wall, nil
}

// RemoveBatch stops and removes pods at once; it returns each one's latency and the wall time.
func (r *Runner) RemoveBatch(ctx context.Context, e *Endpoint, pods []Pod) ([]float64, time.Duration, error) {
	lat := make([]float64, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range pods {
		wg.Go(func() {
			t := time.Now()
			errs[i] = r.RemovePod(ctx, e, p.ID)
			lat[i] = ms(time.Since(t))
		})
	}
	wg.Wait()
	return lat, time.Since(start), firstError(errs)
}

// firstError returns the first non-nil error, saying how many more failed.
func firstError(errs []error) error {
	var first error
	n := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more)", first, n-1)
	}
	return first
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// EnsureImages pulls the sleeper and pause images on every endpoint (not measured).
func (r *Runner) EnsureImages(ctx context.Context) {
	for _, e := range r.Endpoints {
		for _, img := range []string{r.SleeperImage, r.PauseImage} {
			cctx, cancel := r.rpcCtx(ctx)
			_, err := e.IS.PullImage(cctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img}})
			cancel()
			if err != nil {
				e.fixturePullErr = rpcErr("PullImage", err)
				r.Report.Notef("%s: PullImage %s: %v", e.Name, img, err)
				r.Log.Warn("pull fixture image", "endpoint", e.Name, "image", img, "err", err)
			}
		}
	}
}

// requireImages stops the scenario on endpoints whose PullImage is Unimplemented: their
// containers cannot get the fixture image.
func requireImages(ctx context.Context, s *ScenarioRun) {
	s.Each(ctx, func(ctx context.Context, e *Endpoint) error {
		if IsUnimplemented(e.fixturePullErr) {
			return e.fixturePullErr
		}
		return nil
	})
}

// runPods measures pod + container start, serially and in concurrent batches, then the
// stop + remove of the same pods in the same shapes.
func runPods(ctx context.Context, s *ScenarioRun) {
	r, o := s.R, s.R.Opts
	requireImages(ctx, s)
	s.Interleave(ctx, o.Warmup, func(ctx context.Context, e *Endpoint, i int) error {
		p, _, err := r.StartPod(ctx, e, fmt.Sprintf("warm-%d", i))
		if err != nil {
			return err
		}
		return r.RemovePod(ctx, e, p.ID)
	})
	serial := map[string][]Pod{}
	s.Interleave(ctx, o.Serial, func(ctx context.Context, e *Endpoint, i int) error {
		p, d, err := r.StartPod(ctx, e, fmt.Sprintf("serial-%d", i))
		if err != nil {
			return err
		}
		serial[e.Name] = append(serial[e.Name], p)
		s.Record(e, "start.serial", "ms", LowerIsBetter, ms(d))
		for i, ph := range p.Phases {
			s.Record(e, "start.serial."+phaseNames[i], "ms", LowerIsBetter, ms(ph))
		}
		return nil
	})
	cN := fmt.Sprintf("c%d", o.BatchSize)
	batches := map[string][][]Pod{}
	s.Interleave(ctx, o.Batches, func(ctx context.Context, e *Endpoint, b int) error {
		pods, lat, wall, err := r.StartBatch(ctx, e, fmt.Sprintf("batch%d", b), o.BatchSize)
		if err != nil {
			return err
		}
		batches[e.Name] = append(batches[e.Name], pods)
		s.Record(e, "start."+cN, "ms", LowerIsBetter, lat...)
		s.Record(e, "start."+cN+".wall", "ms", LowerIsBetter, ms(wall))
		return nil
	})
	s.Interleave(ctx, o.Serial, func(ctx context.Context, e *Endpoint, i int) error {
		if i >= len(serial[e.Name]) {
			return nil
		}
		t := time.Now()
		if err := r.RemovePod(ctx, e, serial[e.Name][i].ID); err != nil {
			return err
		}
		s.Record(e, "stopremove.serial", "ms", LowerIsBetter, ms(time.Since(t)))
		return nil
	})
	s.Interleave(ctx, o.Batches, func(ctx context.Context, e *Endpoint, b int) error {
		if b >= len(batches[e.Name]) {
			return nil
		}
		lat, wall, err := r.RemoveBatch(ctx, e, batches[e.Name][b])
		if err != nil {
			return err
		}
		s.Record(e, "stopremove."+cN, "ms", LowerIsBetter, lat...)
		s.Record(e, "stopremove."+cN+".wall", "ms", LowerIsBetter, ms(wall))
		return nil
	})
}
