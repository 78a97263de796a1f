package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestDedup(t *testing.T) {
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) {
				runs.Add(1)
				close(started)
				<-release
				return 42, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
		if i == 0 {
			<-started
		}
	}
	// Wait until the four others joined the call before releasing it.
	for {
		g.mu.Lock()
		n := g.calls["k"].waiters
		g.mu.Unlock()
		if n == 5 {
			break
		}
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times", runs.Load())
	}
	for _, v := range results {
		if v != 42 {
			t.Fatalf("results %v", results)
		}
	}
}

func TestCancelLastWaiter(t *testing.T) {
	var g Group[int]
	ctx, cancel := context.WithCancel(context.Background())
	fnDone := make(chan error, 1)
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := g.Do(ctx, "k", func(c context.Context) (int, error) {
			close(started)
			<-c.Done()
			fnDone <- c.Err()
			return 0, c.Err()
		})
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter err = %v", err)
	}
	if err := <-fnDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("work not cancelled: %v", err)
	}
}
