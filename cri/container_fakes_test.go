package cri

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// fakeRuntime is an in-memory ContainerRuntime. Create blocks on gate when it is set.
type fakeRuntime struct {
	mu       sync.Mutex
	ctrs     map[string]runtime.Status
	specs    map[string]runtime.ContainerSpec
	creates  int
	gate     chan struct{}
	started  chan struct{} // receives one value per Create that reached the gate
	stopped  map[string]time.Duration
	execOut  string
	execCode int32
	execErr  error
	execArgs []string
	nextID   int
	reopened []string
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ctrs: map[string]runtime.Status{}, specs: map[string]runtime.ContainerSpec{}, stopped: map[string]time.Duration{}}
}

func (f *fakeRuntime) Create(ctx context.Context, spec runtime.ContainerSpec) (runtime.Status, error) {
	if f.gate != nil {
		f.started <- struct{}{}
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	for _, c := range f.ctrs {
		if c.PodID == spec.PodID && c.Name == spec.Name && c.Attempt == spec.Attempt {
			return runtime.Status{}, fmt.Errorf("name %q is used by container %q: %w", spec.Name, c.ID, errdefs.ErrAlreadyExists)
		}
	}
	f.nextID++
	id := fmt.Sprintf("%x", sha256.Sum256([]byte{byte(f.nextID)}))
	st := runtime.Status{
		ID: id, PodID: spec.PodID, Name: spec.Name, Attempt: spec.Attempt,
		Labels: maps.Clone(spec.Labels), Annotations: maps.Clone(spec.Annotations),
		Image: spec.Image, State: runtime.StateCreated,
		CreatedAt: time.Unix(1000+int64(f.nextID), 0), LogPath: spec.LogPath,
		Mounts: spec.Mounts, Resources: spec.Resources, TTY: spec.TTY, RequestHash: spec.RequestHash,
	}
	f.ctrs[id] = st
	f.specs[id] = spec
	return st, nil
}

func (f *fakeRuntime) set(id string, fn func(*runtime.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.ctrs[id]
	fn(&st)
	f.ctrs[id] = st
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.ctrs[id]
	if !ok {
		return fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	st.State, st.StartedAt, st.Pid = runtime.StateRunning, time.Unix(2000, 0), 4242
	f.ctrs[id] = st
	return nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[id] = timeout
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ctrs, id)
	return nil
}

func (f *fakeRuntime) Status(id string) (runtime.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.ctrs[id]
	if !ok {
		return st, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}

func (f *fakeRuntime) List() []runtime.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runtime.Status, 0, len(f.ctrs))
	for _, c := range f.ctrs {
		out = append(out, c)
	}
	return out
}

func (f *fakeRuntime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execArgs = append([]string{timeout.String()}, cmd...)
	return []byte(f.execOut), nil, f.execCode, f.execErr
}

func (f *fakeRuntime) ReopenLog(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reopened = append(f.reopened, id)
	return nil
}

type fakeSandboxes map[string]sandbox.Sandbox

func (f fakeSandboxes) Get(id string) (sandbox.Sandbox, error) {
	if sb, ok := f[id]; ok {
		return sb, nil
	}
	return sandbox.Sandbox{}, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
}

type fakeImages map[string]ImageInfo

func (f fakeImages) ResolveImage(ctx context.Context, ref string) (ImageInfo, error) {
	if img, ok := f[ref]; ok {
		return img, nil
	}
	for _, img := range f {
		if img.ID == ref || strings.HasPrefix(img.ID, "sha256:"+ref) {
			return img, nil
		}
	}
	return ImageInfo{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

const busyboxID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// testPod is a ready pod with pinned namespaces and a shared pid namespace.
func testPod() sandbox.Sandbox {
	return sandbox.Sandbox{
		ID: "pod1", Name: "p", Namespace: "ns", State: sandbox.StateReady,
		LogDirectory: "/var/log/pods/p1", NetNSPath: "/run/crishim/ns/net-pod1",
		IPCNSPath: "/run/crishim/ns/ipc-pod1", UTSNSPath: "/run/crishim/ns/uts-pod1",
		PIDMode: sandbox.PIDModePod, PIDNSPath: "/proc/77/ns/pid", CgroupParent: "/crishim/pod-pod1",
		HostsPath: "/run/p/hosts", ResolvPath: "/run/p/resolv.conf", HostnamePath: "/run/p/hostname",
		ShmPath: "/run/p/shm", Hostname: "p", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
	}
}

func testImages() fakeImages {
	return fakeImages{
		"busybox:1.36": {ID: busyboxID, RepoTags: []string{"busybox:1.36"}, RepoDigests: []string{"busybox@sha256:abcd"},
			Config: runtime.ImageConfig{Entrypoint: []string{"sh"}, StopSignal: "SIGQUIT"}},
		"vol:1": {ID: "sha256:2222", RepoTags: []string{"vol:1"}},
	}
}
