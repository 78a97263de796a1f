package bench

import (
	"context"
	"fmt"
	"hash/fnv"
	goruntime "runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// coldImages are the two images of one pull repetition: a with fresh layers, b sharing all
// of a's layers but the last.
type coldImages struct {
	a, b       v1.Image
	refA, refB string
	sizeA      int64 // compressed bytes of a's layers and config
}

// makeColdImages generates and pushes the images of one repetition on one endpoint; the
// seeds make every repetition's digests new.
func (r *Runner) makeColdImages(ctx context.Context, e *Endpoint, rep int) (*coldImages, error) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", r.RunID, e.Name, rep)
	seed := h.Sum64()
	o := r.Opts
	layers := make([]v1.Layer, o.PullLayers)
	for i := range layers {
		l, err := ColdLayer(seed+uint64(i), o.PullLayerMB)
		if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	extra, err := ColdLayer(seed+1000, o.PullLayerMB)
	if err != nil {
		return nil, err
	}
	c := &coldImages{}
	if c.a, err = BuildImage(layers, []string{"/bin/sleep"}, []string{"infinity"}, ""); err != nil {
		return nil, err
	}
	shared := append(append([]v1.Layer{}, layers[:len(layers)-1]...), extra)
	if c.b, err = BuildImage(shared, []string{"/bin/sleep"}, []string{"infinity"}, ""); err != nil {
		return nil, err
	}
	repo := fmt.Sprintf("cribench/cold-%s-%s-%d", r.RunID, e.Name, rep)
	if err := r.Registry.Push(ctx, repo+":a", c.a); err != nil {
		return nil, err
	}
	if err := r.Registry.Push(ctx, repo+":b", c.b); err != nil {
		return nil, err
	}
	c.refA, c.refB = r.Registry.Ref(repo+":a"), r.Registry.Ref(repo+":b")
	for _, l := range layers {
		n, _ := l.Size()
		c.sizeA += n
	}
	raw, _ := c.a.RawConfigFile()
	c.sizeA += int64(len(raw))
	return c, nil
}

// timedPull pulls ref and returns the time taken and the bytes the registry served.
func (r *Runner) timedPull(ctx context.Context, e *Endpoint, ref string) (time.Duration, int64, error) {
	ctx, cancel := r.rpcCtx(ctx)
	defer cancel()
	r.Registry.ResetCounters()
	start := time.Now()
	_, err := e.IS.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	d := time.Since(start)
	served, _ := r.Registry.Served()
	return d, served, rpcErr("PullImage", err)
}

// runPull measures a cold pull (throughput over the image's compressed size) and then the
// pull of an image sharing all layers but one (time and bytes the registry served).
func runPull(ctx context.Context, s *ScenarioRun) {
	r := s.R
	const mib = 1 << 20
	s.Each(ctx, func(ctx context.Context, e *Endpoint) error {
		if IsUnimplemented(e.fixturePullErr) {
			return e.fixturePullErr // known already: spare generating the images
		}
		return nil
	})
	s.Interleave(ctx, r.Opts.PullReps, func(ctx context.Context, e *Endpoint, rep int) error {
		imgs, err := r.makeColdImages(ctx, e, rep)
		if err != nil {
			return fmt.Errorf("generate images: %w", err)
		}
		defer func() {
			r.Registry.DropBlobs(imgs.a)
			r.Registry.DropBlobs(imgs.b)
			goruntime.GC()
		}()
		goruntime.GC()
		d, served, err := r.timedPull(ctx, e, imgs.refA)
		if err != nil {
			return err
		}
		s.Record(e, "cold.time", "s", LowerIsBetter, d.Seconds())
		s.Record(e, "cold.throughput", "MiB/s", HigherIsBetter, float64(imgs.sizeA)/mib/d.Seconds())
		s.Record(e, "cold.fetched", "MiB", LowerIsBetter, float64(served)/mib)
		d, served, err = r.timedPull(ctx, e, imgs.refB)
		if err != nil {
			return err
		}
		s.Record(e, "shared.time", "s", LowerIsBetter, d.Seconds())
		s.Record(e, "shared.fetched", "MiB", LowerIsBetter, float64(served)/mib)
		for _, ref := range []string{imgs.refA, imgs.refB} {
			cctx, cancel := r.rpcCtx(ctx)
			_, err := e.IS.RemoveImage(cctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			cancel()
			if err != nil && rep == 0 {
				r.Report.Notef("pull on %s: RemoveImage: %v (fresh digests keep later pulls cold anyway)", e.Name, err)
			}
		}
		return nil
	})
	r.Report.Notef("pull: each repetition is %d layers × ~%d MiB compressed (half random, half hex text) with fresh digests; the shared image reuses all but the last layer",
		r.Opts.PullLayers, r.Opts.PullLayerMB)
}
