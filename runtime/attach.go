package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"github.com/crishim/crishim/internal/errdefs"
)

// Attach connects to a running container's stdio through its pod monitor, which owns it:
// output written by the container from now on is copied to o.Stdout/o.Stderr (all of it to
// o.Stdout with a tty) while it keeps going to the log. Several attachers may be attached at
// once. o.Stdin (when the container was created with stdin) feeds the container's stdin; when
// it ends and the container is stdin_once, the container's stdin is closed. Attach returns
// when the container's output ends (it exited), ctx ends, or writing the output fails. A
// goroutine reading o.Stdin may outlive the call until o.Stdin returns (the caller closes it).
func (m *Manager) Attach(ctx context.Context, id string, o AttachOptions) error {
	c, err := m.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.refreshExit()
	st, spec := c.state(), c.rec.Spec
	c.mu.Unlock()
	if st != StateRunning {
		return fmt.Errorf("attach to container %q: container is %s, not RUNNING: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.podMonitor(spec.PodID).sock)
	if err != nil {
		return fmt.Errorf("attach to container %q: connect to pod monitor: %w: %w", id, errdefs.ErrUnavailable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	req := monRequest{Op: opAttach, ID: id, Stdin: o.Stdin != nil && spec.Stdin, StdinOnce: spec.StdinOnce}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return fmt.Errorf("attach to container %q: %w: %w", id, errdefs.ErrUnavailable, err)
	}
	dec := json.NewDecoder(conn)
	var resp monResponse
	if err := dec.Decode(&resp); err != nil {
		return fmt.Errorf("attach to container %q: read monitor answer: %w: %w", id, errdefs.ErrUnavailable, err)
	}
	if err := resp.respErr(); err != nil {
		return fmt.Errorf("attach to container %q: %w", id, err)
	}
	done := make(chan struct{})
	defer close(done)
	fw := &frameWriter{w: conn}
	if req.Stdin {
		go func() {
			_, _ = io.Copy(frameStream{fw, frameStdin}, o.Stdin)
			_ = fw.write(frameStdinClose, nil)
		}()
	}
	if o.Resize != nil {
		go forwardResizes(done, o.Resize, func(s TermSize) { _ = fw.write(frameResize, resizePayload(s)) })
	}
	err = copyOutput(afterJSON(dec, conn), o.Stdout, o.Stderr)
	if ctx.Err() != nil {
		return nil // the attacher went away: a normal end of the session
	}
	if err != nil {
		return fmt.Errorf("attach to container %q: %w", id, err)
	}
	return nil
}

// copyOutput writes output frames to stdout/stderr (nil = discard) until the monitor ends
// the stream; an error writing to the attacher ends it early.
func copyOutput(r io.Reader, stdout, stderr io.Writer) error {
	buf := make([]byte, 32*1024)
	for {
		typ, p, err := readFrame(r, buf)
		if err != nil {
			return nil // end of output (or the monitor went away, which ends it too)
		}
		w := stdout
		if typ == frameStderr {
			w = stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
}

// forwardResizes calls apply for each size from sizes until sizes closes or done.
func forwardResizes(done <-chan struct{}, sizes <-chan TermSize, apply func(TermSize)) {
	for {
		select {
		case s, ok := <-sizes:
			if !ok {
				return
			}
			apply(s)
		case <-done:
			return
		}
	}
}
