package runtime

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifyExitOnce: concurrent notifiers of one exit run the hooks once, and every
// notifier returns only after the hooks finished (Stop relies on it for event order).
func TestNotifyExitOnce(t *testing.T) {
	m := &Manager{}
	var calls atomic.Int32
	release := make(chan struct{})
	m.OnExit(func(ev ExitEvent) {
		if ev.ID != "c1" || ev.PodID != "p1" || ev.ExitCode != 137 || ev.Reason != ReasonOOMKilled {
			t.Errorf("event %+v", ev)
		}
		calls.Add(1)
		<-release
	})
	c := &container{id: "c1"}
	c.rec.Spec.PodID = "p1"
	m.notifyExit(c) // no exit recorded yet: nothing
	if calls.Load() != 0 {
		t.Fatal("hook ran without an exit")
	}
	c.rec.Exit = &exitRecord{Code: 137, Reason: ReasonOOMKilled, FinishedAt: time.Unix(10, 0)}
	var wg sync.WaitGroup
	var returned atomic.Int32
	for range 3 {
		wg.Go(func() { m.notifyExit(c); returned.Add(1) })
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if returned.Load() != 0 {
		t.Fatal("a notifier returned before the hook finished")
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("hook ran %d times, want 1", calls.Load())
	}
	m.obs.forget("c1")
	m.notifyExit(c) // a new container under the same id after forget: notified again
	if calls.Load() != 2 {
		t.Fatalf("after forget: %d calls, want 2", calls.Load())
	}
}
