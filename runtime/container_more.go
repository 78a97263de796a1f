package runtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"github.com/crishim/crishim/internal/errdefs"
)

// ReopenLog makes the monitor reopen the container's log file (after rotation). It fails
// with errdefs.ErrFailedPrecondition when the container is not running.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	if _, err := m.runningTarget(id); err != nil {
		return err
	}
	c, err := m.get(id)
	if err != nil {
		return err
	}
	if _, err := m.call(ctx, c.rec.Spec.PodID, monRequest{Op: opReopen, ID: id}); err != nil {
		return fmt.Errorf("reopen log of container %q: %w", id, err)
	}
	return nil
}

// Attach connects to the stdio of a running container (through its monitor) until the
// container exits or ctx ends. Several sessions may be attached at once; with StdinOnce the
// container's stdin closes when the first session's stdin ends.
func (m *Manager) Attach(ctx context.Context, id string, opts AttachOptions) error {
	if _, err := m.runningTarget(id); err != nil {
		return err
	}
	c, err := m.get(id)
	if err != nil {
		return err
	}
	pod := c.rec.Spec.PodID
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.podMonitor(pod).sock)
	if err != nil {
		return fmt.Errorf("attach to container %q: %w: %w", id, errdefs.ErrUnavailable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// No trailing newline: whatever follows the request on this connection is stdin.
	b, _ := json.Marshal(monRequest{Op: opAttach, ID: id, Stdin: opts.Stdin != nil})
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("attach to container %q: %w", id, err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("attach to container %q: %w: %w", id, errdefs.ErrUnavailable, err)
	}
	var resp monResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("attach to container %q: %w", id, err)
	}
	if err := resp.respErr(); err != nil {
		return fmt.Errorf("attach to container %q: %w", id, err)
	}
	if opts.Stdin != nil {
		go func() {
			_, _ = io.Copy(conn, opts.Stdin)
			_ = conn.(*net.UnixConn).CloseWrite()
		}()
	}
	go func() {
		for sz := range opts.Resize {
			_, _ = m.call(ctx, pod, monRequest{Op: opResize, ID: id, Width: int(sz.Width), Height: int(sz.Height)})
		}
	}()
	return readFrames(br, opts.Stdout, opts.Stderr)
}

// readFrames copies attach frames to the writers (nil = discard) until the stream ends.
func readFrames(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil // the container exited or the session was closed
		}
		w := stdout
		if hdr[0] == frameStderr {
			w = stderr
		}
		if w == nil {
			w = io.Discard
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[1:]))); err != nil {
			return nil
		}
	}
}
