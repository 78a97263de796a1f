package cri

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// PortDialer connects to a TCP port inside a pod's network namespace. *sandbox.Manager
// satisfies it.
type PortDialer interface {
	DialPort(ctx context.Context, podID string, port int32) (net.Conn, error)
}

// StreamingServer is the running exec/attach/port-forward HTTP server.
type StreamingServer struct {
	srv  streaming.Server
	http *http.Server
	lis  net.Listener
	errc chan error
}

// Addr is the address the server listens on.
func (ss *StreamingServer) Addr() net.Addr { return ss.lis.Addr() }

// Err delivers the error that ended serving (nil after Stop).
func (ss *StreamingServer) Err() <-chan error { return ss.errc }

// Stop closes the listener and every open connection, streams included.
func (ss *StreamingServer) Stop() error {
	return ss.http.Close()
}

// StartStreaming listens on addr (host:port, port 0 = any) and serves the streaming
// endpoints of k8s.io/cri-streaming; Exec, Attach and PortForward then return URLs on it.
// tlsCfg nil serves plain HTTP. Call it before serving gRPC.
func (s *Server) StartStreaming(addr string, tlsCfg *tls.Config) (*StreamingServer, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("streaming: listen on %s: %w", addr, err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = lis.Addr().String()
	cfg.TLSConfig = tlsCfg
	cfg.BaseURL = &url.URL{Scheme: "http", Host: cfg.Addr}
	if tlsCfg != nil {
		cfg.BaseURL.Scheme = "https"
	}
	srv, err := streaming.NewServer(cfg, &streamRuntime{s: s})
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("streaming: %w", err)
	}
	ss := &StreamingServer{srv: srv, lis: lis, errc: make(chan error, 1),
		http: &http.Server{Handler: srv, TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second}}
	s.streamMu.Lock()
	s.stream = srv
	s.streamMu.Unlock()
	go func() {
		var err error
		if tlsCfg != nil {
			err = ss.http.ServeTLS(lis, "", "")
		} else {
			err = ss.http.Serve(lis)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ss.errc <- err
	}()
	return ss, nil
}

// streaming returns the streaming server, or NotImplemented when none was started.
func (s *Server) streaming() (streaming.Server, error) {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.stream == nil {
		return nil, fmt.Errorf("streaming: no streaming server is running: %w", errdefs.ErrNotImplemented)
	}
	return s.stream, nil
}

// streamRuntime connects the streaming server's sessions to the domain services.
type streamRuntime struct{ s *Server }

// Exec runs an interactive command; a non-zero exit becomes the exit-code error the
// streaming server reports to the client (kubectl exits with it).
func (r *streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	rt, err := r.s.containers()
	if err != nil {
		return err
	}
	o := runtime.ExecOptions{Cmd: cmd, TTY: tty, Stdin: in, Stdout: out, Stderr: errw}
	ctx, cancel := untilClientGone(ctx, out, errw, in)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	o.Resize = termSizes(resize, done)
	code, err := rt.Exec(ctx, id, o)
	if ctx.Err() != nil {
		return nil // the client went away (the command was killed): nobody to tell
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: int(code)}
	}
	return nil
}

// Attach attaches to a running container's stdio.
func (r *streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	rt, err := r.s.containers()
	if err != nil {
		return err
	}
	o := runtime.AttachOptions{TTY: tty, Stdin: in, Stdout: out, Stderr: errw}
	ctx, cancel := untilClientGone(ctx, out, errw, in)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	o.Resize = termSizes(resize, done)
	return rt.Attach(ctx, id, o)
}

// PortForward dials the pod's port and copies between it and stream (see forwardPort) until
// both sides are done, ctx ends or the client goes away.
func (r *streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	d := r.s.portDialer()
	if d == nil {
		return fmt.Errorf("port forward: no pod sandboxes: %w", errdefs.ErrNotImplemented)
	}
	ctx, cancel := untilClientGone(ctx, stream)
	defer cancel()
	conn, err := d.DialPort(ctx, podID, port)
	if err != nil {
		return err
	}
	if err := forwardPort(ctx, conn, stream); err != nil {
		return fmt.Errorf("port forward to pod %q port %d: %w", podID, port, err)
	}
	return nil
}

// clientProbeInterval is how often a streaming session checks that its client is still
// connected.
const clientProbeInterval = 2 * time.Second

// untilClientGone returns ctx, also cancelled once the client's connection is gone. The
// streaming library does not cancel the request context of its hijacked connection, so a
// session whose client vanished would otherwise wait for the container's next output (or
// forever). The first writable stream is probed with an empty write every
// clientProbeInterval: clients ignore empty frames, and the write fails once the connection
// is closed.
func untilClientGone(ctx context.Context, streams ...any) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	for _, st := range streams {
		if w, ok := st.(io.Writer); ok && w != nil {
			go func() {
				t := time.NewTicker(clientProbeInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
					if _, err := w.Write(nil); err != nil {
						cancel()
						return
					}
				}
			}()
			break
		}
	}
	return ctx, cancel
}

// termSizes converts the streaming server's resize channel. The converter ends when resize
// closes (the streaming server closes it once the session's connection ends) and never
// blocks after done.
func termSizes(resize <-chan remotecommand.TerminalSize, done <-chan struct{}) <-chan runtime.TermSize {
	if resize == nil {
		return nil
	}
	out := make(chan runtime.TermSize)
	go func() {
		defer close(out)
		for sz := range resize {
			select {
			case out <- runtime.TermSize{Width: sz.Width, Height: sz.Height}:
			case <-done:
			}
		}
	}()
	return out
}

// portDialer returns the pod port dialer (nil without pods).
func (s *Server) portDialer() PortDialer { return s.opts.PortDialer }
