// Package flight deduplicates concurrent calls with the same key: the first caller starts the
// work, later callers with the same key wait for its result. The work runs on a context that
// keeps the first caller's values but is cancelled only when every waiter has gone, so one
// impatient caller does not fail the others.
package flight

import (
	"context"
	"sync"
)

// Group is a set of in-flight calls keyed by string. The zero value is ready to use.
type Group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done    chan struct{}
	val     T
	err     error
	waiters int
	cancel  context.CancelFunc
}

// Do runs fn once for all concurrent callers with key. shared reports whether this caller
// joined a call started by another. A caller whose ctx ends gets ctx's error; the call itself
// is cancelled when its last waiter leaves.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (v T, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[T]{}
	}
	c, shared := g.calls[key]
	if shared {
		c.waiters++
	} else {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[T]{done: make(chan struct{}), waiters: 1, cancel: cancel}
		g.calls[key] = c
		go func() {
			c.val, c.err = fn(cctx)
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			cancel()
			close(c.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, shared, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
		}
		g.mu.Unlock()
		var zero T
		return zero, shared, context.Cause(ctx)
	}
}
