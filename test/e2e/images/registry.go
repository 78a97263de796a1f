package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry serving the fixture repositories over plain HTTP.
type Registry struct {
	// Addr is the host:port the registry listens on.
	Addr string
	srv  *http.Server
	done chan error
}

// URL returns the registry's base URL, the value for a runtime's mirror configuration.
func (r *Registry) URL() string { return "http://" + r.Addr }

// Serve starts a registry on addr (e.g. "127.0.0.1:0") and pushes every repository into it.
// requestLog, when not nil, receives one line per HTTP request.
func Serve(ctx context.Context, addr string, repos []Repository, requestLog io.Writer) (*Registry, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fixture registry: %w", err)
	}
	if requestLog == nil {
		requestLog = io.Discard
	}
	r := &Registry{
		Addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           registry.New(registry.Logger(log.New(requestLog, "registry: ", log.LstdFlags))),
			ReadHeaderTimeout: 30 * time.Second,
		},
		done: make(chan error, 1),
	}
	go func() { r.done <- r.srv.Serve(ln) }()
	if err := r.push(ctx, repos); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Registry) push(ctx context.Context, repos []Repository) error {
	for _, repo := range repos {
		tags := make([]string, 0, len(repo.Tags))
		for t := range repo.Tags {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		for _, t := range tags {
			ref, err := name.NewTag(r.Addr+"/"+repo.Path+":"+t, name.Insecure, name.StrictValidation)
			if err != nil {
				return fmt.Errorf("fixture registry: %s: %w", repo.Reference(t), err)
			}
			if err := remote.WriteIndex(ref, repo.Tags[t], remote.WithContext(ctx)); err != nil {
				return fmt.Errorf("fixture registry: push %s: %w", repo.Reference(t), err)
			}
		}
	}
	return nil
}

// Close stops the registry.
func (r *Registry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if serveErr := <-r.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
