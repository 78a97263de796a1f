package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// attachQueue is how many output chunks may wait for one attacher; an attacher that falls
// further behind is disconnected rather than slowing down the container or its log.
const attachQueue = 256

// outChunk is one piece of container output for an attacher.
type outChunk struct {
	typ byte
	b   []byte
}

// attacher is one attach session inside the monitor.
type attacher struct {
	q      chan outChunk
	closed bool // q is closed; guarded by attachHub.mu
}

// attachHub fans a container's output out to its attachers and serialises writes to its
// stdin. The zero value is ready to use.
type attachHub struct {
	mu    sync.Mutex
	subs  map[*attacher]struct{}
	ended bool // the container's output ended: no new attachers

	stdinMu sync.Mutex
}

// add registers a new attacher; false once the output has ended.
func (h *attachHub) add() (*attacher, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return nil, false
	}
	if h.subs == nil {
		h.subs = map[*attacher]struct{}{}
	}
	a := &attacher{q: make(chan outChunk, attachQueue)}
	h.subs[a] = struct{}{}
	return a, true
}

// remove unregisters a and closes its queue (idempotent).
func (h *attachHub) remove(a *attacher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(a)
}

func (h *attachHub) dropLocked(a *attacher) {
	delete(h.subs, a)
	if !a.closed {
		a.closed = true
		close(a.q)
	}
}

// end closes every attacher's queue once the container's output is drained: their
// connections then see the end of the output.
func (h *attachHub) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	for a := range h.subs {
		h.dropLocked(a)
	}
}

// tee returns a writer that copies output of one stream to every attacher.
func (h *attachHub) tee(typ byte) io.Writer { return hubWriter{h, typ} }

type hubWriter struct {
	h   *attachHub
	typ byte
}

func (w hubWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if len(w.h.subs) == 0 || len(p) == 0 {
		return len(p), nil
	}
	b := append([]byte(nil), p...) // p is the log pump's buffer, reused on the next read
	for a := range w.h.subs {
		select {
		case a.q <- outChunk{w.typ, b}:
		default:
			w.h.dropLocked(a)
		}
	}
	return len(p), nil
}

// attach serves an attach connection: output frames out, stdin and resize frames in, until
// the container's output ends or the attacher goes away. rd is the connection's input
// (including what the request decoder buffered).
func (m *monitor) attach(conn *net.UnixConn, rd io.Reader, req monRequest) {
	enc := json.NewEncoder(conn)
	c := m.get(req.ID)
	if c == nil {
		_ = enc.Encode(errResponse(fmt.Errorf("container %q: %w", req.ID, errdefs.ErrNotFound)))
		return
	}
	a, ok := c.att.add()
	if !ok || c.exited() {
		_ = enc.Encode(errResponse(fmt.Errorf("container %q is not running: %w", req.ID, errdefs.ErrFailedPrecondition)))
		return
	}
	defer c.att.remove(a)
	if err := enc.Encode(monResponse{}); err != nil {
		return
	}
	go func() {
		fw := &frameWriter{w: conn}
		for ch := range a.q {
			if fw.write(ch.typ, ch.b) != nil {
				break
			}
		}
		_ = conn.CloseWrite() // end of output for the attacher
	}()
	c.serveAttachInput(rd, req)
}

// serveAttachInput applies an attacher's stdin and resize frames until its connection ends.
// When the attacher's stdin ends and the container is stdin_once, the container's stdin is
// closed.
func (mc *monCtr) serveAttachInput(r io.Reader, req monRequest) {
	stdinOpen := req.Stdin
	defer func() {
		if stdinOpen && req.StdinOnce {
			mc.closeStdin()
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		typ, p, err := readFrame(r, buf)
		if err != nil {
			return
		}
		switch typ {
		case frameStdin:
			if stdinOpen {
				mc.writeStdin(p)
			}
		case frameStdinClose:
			if stdinOpen && req.StdinOnce {
				mc.closeStdin()
			}
			stdinOpen = false
		case frameResize:
			if s, ok := parseResize(p); ok && mc.console != nil {
				_ = setWinsize(mc.console, s)
			}
		}
	}
}

// writeStdin writes to the container's stdin (dropped once it is closed). The pipe and the
// pty master are non-blocking files, so closeStdin can interrupt a blocked write.
func (mc *monCtr) writeStdin(p []byte) {
	mc.att.stdinMu.Lock()
	f := mc.stdin
	mc.att.stdinMu.Unlock()
	if f != nil {
		_, _ = f.Write(p)
	}
}

// closeStdin closes the container's stdin: EOF on a pipe; with a tty the terminal is hung
// up (the console is closed, as containerd does), which ends its output too.
func (mc *monCtr) closeStdin() {
	mc.att.stdinMu.Lock()
	f := mc.stdin
	mc.stdin = nil
	mc.att.stdinMu.Unlock()
	if f != nil {
		_ = f.Close()
	}
}

// setWinsize applies a terminal size to a pty master without putting it in blocking mode.
func setWinsize(f *os.File, s TermSize) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: s.Height, Col: s.Width})
	})
	if err != nil {
		return err
	}
	return ioErr
}
