package cri

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// createRecall is how long a finished create is remembered so that a retry of the same
// request (kubelet retries after its own timeout) gets the container instead of
// AlreadyExists.
const createRecall = 30 * time.Minute

// createTimeout bounds a create that runs on after its caller gave up.
const createTimeout = 4 * time.Minute

// createTracker deduplicates CreateContainer requests per (pod, name, attempt): a request
// that arrives while the same one runs waits for it and gets its result; one that arrives
// after it finished gets the container it created. A different request for the same name
// gets AlreadyExists, as the runtime says.
type createTracker struct {
	mu       sync.Mutex
	inflight map[string]*createCall
	recent   map[string]createDone
}

type createCall struct {
	hash string
	done chan struct{}
	id   string
	err  error
}

type createDone struct {
	hash string
	id   string
	at   time.Time
}

func newCreateTracker() *createTracker {
	return &createTracker{inflight: map[string]*createCall{}, recent: map[string]createDone{}}
}

// createKey names the container slot a request wants; createHash identifies the request.
func createKey(podID string, md *runtimeapi.ContainerMetadata) string {
	return fmt.Sprintf("%s/%s/%d", podID, md.GetName(), md.GetAttempt())
}

func createHash(req *runtimeapi.CreateContainerRequest) string { return requestHash(req) }

// requestHash is a digest of a request; it is persisted with the object the request made
// (so a retry after a daemon restart is recognised) and "" when it cannot be computed.
func requestHash(req proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return "" // never equal to another request's hash of "" below
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// do runs create once per key. The create runs detached from ctx (bounded by
// createTimeout) so that a caller that times out does not leave a half-made container; the
// caller returns early on ctx's end and a retry picks the result up. exists reports whether
// a remembered container is still there.
func (t *createTracker) do(ctx context.Context, key, hash string, exists func(id string) bool, create func(ctx context.Context) (string, error)) (string, error) {
	t.mu.Lock()
	t.prune(time.Now())
	if c, ok := t.inflight[key]; ok {
		t.mu.Unlock()
		if c.hash != hash || hash == "" {
			return "", fmt.Errorf("container name %q is being created by another, different request: %w", key, errdefs.ErrAlreadyExists)
		}
		return c.wait(ctx)
	}
	if d, ok := t.recent[key]; ok && d.hash == hash && hash != "" && exists(d.id) {
		t.mu.Unlock()
		return d.id, nil
	}
	c := &createCall{hash: hash, done: make(chan struct{})}
	t.inflight[key] = c
	t.mu.Unlock()

	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
		defer cancel()
		c.id, c.err = create(cctx)
		t.mu.Lock()
		delete(t.inflight, key)
		if c.err == nil {
			t.recent[key] = createDone{hash: hash, id: c.id, at: time.Now()}
		}
		t.mu.Unlock()
		close(c.done)
	}()
	return c.wait(ctx)
}

func (c *createCall) wait(ctx context.Context) (string, error) {
	select {
	case <-c.done:
		return c.id, c.err
	case <-ctx.Done():
		return "", fmt.Errorf("create still in progress (a retry gets its result): %w", ctx.Err())
	}
}

// forget drops the memory of a container (on remove), so its slot can be reused.
func (t *createTracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, d := range t.recent {
		if d.id == id {
			delete(t.recent, k)
		}
	}
}

func (t *createTracker) prune(now time.Time) {
	for k, d := range t.recent {
		if now.Sub(d.at) > createRecall {
			delete(t.recent, k)
		}
	}
}
