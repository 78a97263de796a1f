package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry (go-containerregistry's pkg/registry) on loopback
// whose blobs live in memory and are added directly, without an upload. It counts the bytes
// it serves so a benchmark can tell how much a pull really fetched.
type Registry struct {
	// Addr is the host:port the registry listens on.
	Addr string
	// Host is the registry host used in image references: a fake upstream name that the
	// runtimes mirror to Addr, or Addr itself.
	Host string

	blobs  *memBlobs
	srv    *http.Server
	served atomic.Int64
	gets   atomic.Int64
}

// StartRegistry listens on listen (host:port, port 0 = any) and serves until Close. host is
// the registry name images are referenced by; empty means the listen address.
func StartRegistry(listen, host string) (*Registry, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("registry listen %s: %w", listen, err)
	}
	r := &Registry{Addr: ln.Addr().String(), Host: host, blobs: &memBlobs{m: map[string][]byte{}}}
	if r.Host == "" {
		r.Host = r.Addr
	}
	h := ggcrregistry.New(ggcrregistry.Logger(discardLogger()), ggcrregistry.WithBlobHandler(r.blobs))
	r.srv = &http.Server{Handler: r.count(h)}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() error { return r.srv.Close() }

// Ref returns the reference of repo:tag as the runtimes see it (under Host).
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Served returns the bytes of GET response bodies served and the number of blob GETs
// since the last ResetCounters.
func (r *Registry) Served() (bytes, blobGets int64) { return r.served.Load(), r.gets.Load() }

// ResetCounters zeroes the served-bytes and blob-GET counters.
func (r *Registry) ResetCounters() { r.served.Store(0); r.gets.Store(0) }

// Push stores img's blobs in memory and PUTs its manifest as repoTag ("repo:tag").
func (r *Registry) Push(ctx context.Context, repoTag string, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if r.blobs.has(d) {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		r.blobs.add(d, b)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	r.blobs.add(cfgName, cfg)
	ref, err := name.ParseReference(r.Addr+"/"+repoTag, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Put(ref, img, remote.WithContext(ctx))
}

// DropBlobs forgets the blobs of img (to free memory; its manifest stays and becomes
// unpullable).
func (r *Registry) DropBlobs(img v1.Image) {
	layers, _ := img.Layers()
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			r.blobs.drop(d)
		}
	}
}

func (r *Registry) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet {
			next.ServeHTTP(w, req)
			return
		}
		if strings.Contains(req.URL.Path, "/blobs/") {
			r.gets.Add(1)
		}
		next.ServeHTTP(&countingWriter{ResponseWriter: w, n: &r.served}, req)
	})
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts b before writing it, so a client that has received the bytes always finds
// them counted; bytes that fail to go out are taken back.
func (c *countingWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n - len(b)))
	return n, err
}

// memBlobs is the registry's blob store: Get, Stat and Put over an in-memory map.
type memBlobs struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (m *memBlobs) add(h v1.Hash, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[h.String()] = b
}

func (m *memBlobs) has(h v1.Hash) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.m[h.String()]
	return ok
}

func (m *memBlobs) drop(h v1.Hash) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, h.String())
}

// Get serves a blob.
func (m *memBlobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.m[h.String()]
	if !ok {
		return nil, ggcrregistry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Stat returns a blob's size.
func (m *memBlobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.m[h.String()]
	if !ok {
		return 0, ggcrregistry.ErrNotFound
	}
	return int64(len(b)), nil
}

// Put stores an uploaded blob.
func (m *memBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	m.add(h, b)
	return nil
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
