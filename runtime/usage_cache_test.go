package runtime

import (
	"errors"
	"testing"
	"time"
)

func TestUsageCacheServesFreshFigureWithoutWalking(t *testing.T) {
	var u usageCache
	walks := 0
	walk := func() (uint64, uint64, error) { walks++; return 4096, 1, nil }
	for range 3 {
		b, i, err := u.get("c1", time.Hour, walk)
		if err != nil || b != 4096 || i != 1 {
			t.Fatalf("get = %d %d %v", b, i, err)
		}
	}
	if walks != 1 {
		t.Fatalf("walked %d times for 3 gets within the TTL, want 1", walks)
	}
	u.drop("c1")
	if _, _, _ = u.get("c1", time.Hour, walk); walks != 2 {
		t.Fatalf("a dropped entry was not measured again (%d walks)", walks)
	}
}

func TestUsageCacheRefreshesStaleFigureInBackground(t *testing.T) {
	var u usageCache
	if _, _, err := u.get("c1", time.Nanosecond, func() (uint64, uint64, error) { return 1, 1, nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	b, _, err := u.get("c1", time.Nanosecond, func() (uint64, uint64, error) { defer close(done); return 2, 2, nil })
	if err != nil || b != 1 {
		t.Fatalf("stale get = %d %v, want the old figure 1 at once", b, err)
	}
	<-done
	for { // the refresh stores its figure right after walk returns
		u.mu.Lock()
		e := u.m["c1"]
		got, busy := e.bytes, e.refreshing
		u.mu.Unlock()
		if !busy {
			if got != 2 {
				t.Fatalf("refreshed figure %d, want 2", got)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUsageCacheErrorsAreNotCached(t *testing.T) {
	var u usageCache
	boom := errors.New("gone")
	if _, _, err := u.get("c1", time.Hour, func() (uint64, uint64, error) { return 0, 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	b, _, err := u.get("c1", time.Hour, func() (uint64, uint64, error) { return 7, 1, nil })
	if err != nil || b != 7 {
		t.Fatalf("get after a failed walk = %d %v", b, err)
	}
	b, _, _ = u.get("c1", 0, func() (uint64, uint64, error) { return 9, 1, nil })
	if b != 9 {
		t.Fatalf("ttl 0 must measure every time, got %d", b)
	}
}
