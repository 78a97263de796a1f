package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"k8s.io/streaming/pkg/httpstream"
)

// portForwardClientIdle is how long a port-forward session goes on after the pod closed its
// side while the client sends nothing. The pod closing first is either a half-close (`nc -l >
// file` with no input: the client's upload must still arrive whole) or a full close (an
// HTTP server done with the connection: a client waiting for the end of the connection only
// sees it once the session ends). Both look the same from here, so the session lasts while
// the client keeps sending and ends once it stayed silent this long (containerd and CRI-O
// give a fixed second to the whole rest of the transfer, which cuts long uploads).
var portForwardClientIdle = 2 * time.Second

// forwardPort copies between the client's stream and the pod connection with TCP half-close
// semantics: the client's end of data half-closes the pod connection (the pod reads to EOF
// and may still answer), and the pod's end of data ends the stream to the client (a SPDY
// half-close) while the client's upload goes on. It returns once both directions are done
// (see portForwardClientIdle), or when ctx ends.
func forwardPort(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	in := &idleReader{r: stream}
	uploaded := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, in)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			err = cw.CloseWrite()
		}
		uploaded <- err
	}()

	_, err := io.Copy(stream, conn)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("copy from the pod: %w", err)
	}
	// The pod has nothing more to send. Only an httpstream (SPDY) stream can tell the client
	// with a half-close: closing a websocket channel would end its reading side instead.
	if hs, ok := stream.(httpstream.Stream); ok {
		_ = hs.Close()
	}
	err = waitUpload(ctx, uploaded, in)
	if errors.Is(err, errClientIdle) {
		// Unblock the copy's pending Read: the session is over for this stream.
		if hs, ok := stream.(httpstream.Stream); ok {
			_ = hs.Reset()
		}
		return nil
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("copy to the pod: %w", err)
	}
	return nil
}

// errClientIdle ends a session whose pod side is done and whose client stopped sending.
var errClientIdle = errors.New("client idle after the pod closed its side")

// waitUpload waits for the client-to-pod copy to end, for ctx, or for the client to stay
// silent for portForwardClientIdle while the copy waits for it.
func waitUpload(ctx context.Context, uploaded <-chan error, in *idleReader) error {
	idle := portForwardClientIdle
	tick := time.NewTicker(idle / 4)
	defer tick.Stop()
	for {
		select {
		case err := <-uploaded:
			return err
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if in.silentFor() >= idle {
				return errClientIdle
			}
		}
	}
}

// idleReader records since when a Read has been waiting for data (0: not waiting), so a
// client that stopped sending can be told from a copy that is busy writing to the pod.
type idleReader struct {
	r       io.Reader
	waiting atomic.Int64 // unix nanoseconds when the pending Read started
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.waiting.Store(time.Now().UnixNano())
	n, err := ir.r.Read(p)
	ir.waiting.Store(0)
	return n, err
}

// silentFor is how long the pending Read has waited (0 when none is pending).
func (ir *idleReader) silentFor() time.Duration {
	since := ir.waiting.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
