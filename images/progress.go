package images

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// progress tracks one pull: bytes received, layers done, and the time of the last byte, which
// the watchdog compares with the stall timeout.
type progress struct {
	ref        string
	log        *slog.Logger
	start      time.Time
	bytes      atomic.Int64
	layers     atomic.Int32
	layersDone atomic.Int32
	last       atomic.Int64 // unix nanoseconds of the last sign of life
}

func newProgress(ref string, log *slog.Logger) *progress {
	p := &progress{ref: ref, log: log, start: time.Now()}
	p.touch()
	return p
}

func (p *progress) touch() { p.last.Store(time.Now().UnixNano()) }

// reader counts network bytes read through r.
func (p *progress) reader(r io.Reader) io.Reader { return &countReader{r: r, p: p, net: true} }

// activity marks reads through r as progress without counting them as downloaded (layer
// application of data already in the store).
func (p *progress) activity(r io.Reader) io.Reader { return &countReader{r: r, p: p} }

type countReader struct {
	r   io.Reader
	p   *progress
	net bool
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.p.touch()
		if c.net {
			c.p.bytes.Add(int64(n))
		}
	}
	return n, err
}

// watch logs progress at info every 10 seconds and cancels the pull when nothing moved for
// stall. It returns when ctx ends.
func (p *progress) watch(ctx context.Context, cancel context.CancelCauseFunc, stall time.Duration) {
	tick := min(stall/4, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastLog := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if idle := now.Sub(time.Unix(0, p.last.Load())); idle > stall {
				cancel(fmt.Errorf("image %q: pull made no progress for %s: %w", p.ref, stall, errdefs.ErrDeadlineExceeded))
				return
			}
			if now.Sub(lastLog) >= 10*time.Second {
				lastLog = now
				p.log.Info("pulling image", p.attrs()...)
			}
		}
	}
}

func (p *progress) attrs() []any {
	el := time.Since(p.start)
	b := p.bytes.Load()
	rate := float64(b) / max(el.Seconds(), 0.001) / (1 << 20)
	return []any{"image", p.ref, "bytes", b, "mib_per_s", fmt.Sprintf("%.1f", rate),
		"layers_done", p.layersDone.Load(), "layers", p.layers.Load(), "elapsed", el.Round(time.Millisecond)}
}
