package images

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
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

// reader counts network bytes read through r and shows them as progress to every pull
// following key (the blob digest).
func (p *progress) reader(r io.Reader, f *followers, key string) io.Reader {
	return &countReader{r: r, p: p, net: true, f: f, key: key}
}

// activity marks reads through r as progress of every pull following key (layer application
// of data already in the store) without counting them as downloaded.
func (p *progress) activity(r io.Reader, f *followers, key string) io.Reader {
	return &countReader{r: r, p: p, f: f, key: key}
}

type countReader struct {
	r   io.Reader
	p   *progress
	net bool
	f   *followers
	key string
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.p.touch()
		c.f.touch(c.key)
		if c.net {
			c.p.bytes.Add(int64(n))
		}
	}
	return n, err
}

// followers lets a pull that waits for work another pull started (a shared blob download or
// layer unpack) see that work's progress, so its stall watchdog fires only when the shared
// work itself stalls.
type followers struct {
	mu sync.Mutex
	m  map[string]map[*progress]int
}

// follow registers p as interested in key until the returned function is called.
func (f *followers) follow(key string, p *progress) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]map[*progress]int{}
	}
	if f.m[key] == nil {
		f.m[key] = map[*progress]int{}
	}
	f.m[key][p]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.m[key][p]--; f.m[key][p] == 0 {
			delete(f.m[key], p)
		}
		if len(f.m[key]) == 0 {
			delete(f.m, key)
		}
	}
}

func (f *followers) touch(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.m[key] {
		p.touch()
	}
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
