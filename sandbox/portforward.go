package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// DialPort connects to TCP port on the loopback address inside the pod's network namespace
// (IPv4, then IPv6), for port forwarding. Pods on the host network are dialled on the host.
// The socket is created on a dedicated, locked OS thread that has joined the pod's network
// namespace; the connection then works from any thread.
func (m *Manager) DialPort(ctx context.Context, podID string, port int32) (net.Conn, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("port %d: must be in 1-65535: %w", port, errdefs.ErrInvalidArgument)
	}
	sb, err := m.Get(podID)
	if err != nil {
		return nil, err
	}
	if sb.State != StateReady {
		return nil, fmt.Errorf("pod sandbox %q is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	dial := func() (net.Conn, error) { return dialLoopback(ctx, port) }
	if sb.HostNetwork || sb.NetNSPath == "" {
		return dial()
	}
	conn, err := inNetNS(sb.NetNSPath, dial)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox %q: connect to port %d: %w", sb.ID, port, err)
	}
	return conn, nil
}

// dialLoopback dials 127.0.0.1:port, then [::1]:port when nothing listens on IPv4.
func dialLoopback(ctx context.Context, port int32) (net.Conn, error) {
	var d net.Dialer
	p := strconv.Itoa(int(port))
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err == nil {
		return conn, nil
	}
	if conn6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p)); err6 == nil {
		return conn6, nil
	}
	if errors.Is(err, unix.ECONNREFUSED) {
		return nil, fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return nil, err
}

// inNetNS runs fn on a fresh locked OS thread that joined the network namespace at path.
// The thread is never returned to the Go scheduler: it exits with the goroutine, so no other
// goroutine can ever run in the pod's namespace.
func inNetNS[T any](path string, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	res := make(chan result, 1)
	go func() {
		goruntime.LockOSThread() // not unlocked: the thread dies with this goroutine
		var r result
		f, err := os.Open(path)
		if err != nil {
			r.err = fmt.Errorf("open network namespace: %w", err)
			res <- r
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			r.err = fmt.Errorf("join network namespace %s: %w", path, err)
			res <- r
			return
		}
		r.v, r.err = fn()
		res <- r
	}()
	r := <-res
	return r.v, r.err
}
