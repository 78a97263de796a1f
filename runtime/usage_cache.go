package runtime

import (
	"sync"
	"time"
)

// usageCache keeps each container's writable layer usage for a while: measuring it walks the
// container's upper dir, which ListContainerStats would otherwise do for every container on
// every call (like containerd, which refreshes snapshot usage in the background). A stale
// figure is returned at once while one background walk refreshes it; only a container never
// measured is walked on the request path. Its zero value is usable.
type usageCache struct {
	mu sync.Mutex
	m  map[string]*usageEntry
}

type usageEntry struct {
	bytes, inodes uint64
	at            time.Time // when the figure was measured
	refreshing    bool
}

// get returns the usage of key, measuring it with walk when it was never measured or is older
// than ttl (ttl <= 0: always measure on the request path).
func (u *usageCache) get(key string, ttl time.Duration, walk func() (uint64, uint64, error)) (bytes, inodes uint64, err error) {
	if ttl <= 0 {
		return walk()
	}
	u.mu.Lock()
	e := u.m[key]
	if e == nil {
		u.mu.Unlock()
		return u.measure(key, walk)
	}
	b, i := e.bytes, e.inodes
	if time.Since(e.at) >= ttl && !e.refreshing {
		e.refreshing = true
		go u.refresh(key, e, walk)
	}
	u.mu.Unlock()
	return b, i, nil
}

// measure walks synchronously and records the figure.
func (u *usageCache) measure(key string, walk func() (uint64, uint64, error)) (uint64, uint64, error) {
	at := time.Now()
	b, i, err := walk()
	if err != nil {
		return 0, 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*usageEntry{}
	}
	if e := u.m[key]; e == nil || e.at.Before(at) {
		u.m[key] = &usageEntry{bytes: b, inodes: i, at: at}
	}
	return b, i, nil
}

// refresh re-measures entry e of key in the background; a failed walk (the container went
// away) drops the entry.
func (u *usageCache) refresh(key string, e *usageEntry, walk func() (uint64, uint64, error)) {
	at := time.Now()
	b, i, err := walk()
	u.mu.Lock()
	defer u.mu.Unlock()
	e.refreshing = false
	if u.m[key] != e {
		return // dropped meanwhile
	}
	if err != nil {
		delete(u.m, key)
		return
	}
	e.bytes, e.inodes, e.at = b, i, at
}

// drop forgets key (its container was removed).
func (u *usageCache) drop(key string) {
	u.mu.Lock()
	delete(u.m, key)
	u.mu.Unlock()
}
