package runtime

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/crishim/crishim/internal/errdefs"
)

// Attach stream frames (monitor → client): 1 byte stream id, 4 bytes big-endian length,
// payload. The client → monitor direction carries raw stdin bytes; its EOF ends stdin.
const (
	frameStdout byte = 1
	frameStderr byte = 2
)

// attacher is one attach session of a container's output.
type attacher struct {
	conn net.Conn
	out  chan []byte // framed chunks; closed when the session ends
	once sync.Once
}

func (a *attacher) stop() { a.once.Do(func() { close(a.out) }) }

// attachTee forwards what a container writes on one stream to its attach sessions.
type attachTee struct {
	mc     *monCtr
	stream byte
}

// Write sends p to every attach session without blocking.
func (t attachTee) Write(p []byte) (int, error) {
	t.mc.attachMu.Lock()
	defer t.mc.attachMu.Unlock()
	if len(t.mc.attachers) == 0 {
		return len(p), nil
	}
	fr := make([]byte, 5+len(p))
	fr[0] = t.stream
	binary.BigEndian.PutUint32(fr[1:5], uint32(len(p)))
	copy(fr[5:], p)
	for a := range t.mc.attachers {
		select {
		case a.out <- fr:
		default:
			// Too slow: drop the session rather than stall the container or its log.
			delete(t.mc.attachers, a)
			a.stop()
		}
	}
	return len(p), nil
}

// closeAttachers ends every attach session (the container exited).
func (mc *monCtr) closeAttachers() {
	mc.attachMu.Lock()
	defer mc.attachMu.Unlock()
	for a := range mc.attachers {
		delete(mc.attachers, a)
		a.stop()
	}
	mc.attachClosed = true
}

// attach serves an attach session on conn; rest holds what the request decoder read ahead.
func (m *monitor) attach(conn *net.UnixConn, rest io.Reader, req monRequest) {
	reply := func(r monResponse) error { return json.NewEncoder(conn).Encode(r) }
	mc := m.get(req.ID)
	if mc == nil {
		_ = reply(errResponse(fmt.Errorf("container %q: %w", req.ID, errdefs.ErrNotFound)))
		return
	}
	a := &attacher{conn: conn, out: make(chan []byte, 256)}
	mc.attachMu.Lock()
	if mc.attachClosed || mc.exited() {
		mc.attachMu.Unlock()
		_ = reply(errResponse(fmt.Errorf("container %q is not running: %w", req.ID, errdefs.ErrFailedPrecondition)))
		return
	}
	if mc.attachers == nil {
		mc.attachers = map[*attacher]bool{}
	}
	mc.attachers[a] = true
	mc.attachMu.Unlock()
	if err := reply(monResponse{}); err != nil {
		mc.dropAttacher(a)
		return
	}
	in := io.MultiReader(rest, conn)
	go func() {
		if req.Stdin && mc.stdin != nil {
			_, _ = io.Copy(mc.stdin, in)
			if mc.stdinOnce && mc.master == nil {
				mc.stdin.Close() // EOF for the container (a tty's master also carries output)
			}
			return
		}
		_, _ = io.Copy(io.Discard, in) // returns when the client goes away
		mc.dropAttacher(a)
	}()
	for fr := range a.out {
		if _, err := conn.Write(fr); err != nil {
			mc.dropAttacher(a)
			for range a.out {
			}
			return
		}
	}
}

func (mc *monCtr) dropAttacher(a *attacher) {
	mc.attachMu.Lock()
	defer mc.attachMu.Unlock()
	delete(mc.attachers, a)
	a.stop()
}

// resize sets the container's terminal size.
func (mc *monCtr) resize(w, h int) monResponse {
	if mc.master == nil {
		return errResponse(fmt.Errorf("container %q has no terminal: %w", mc.id, errdefs.ErrFailedPrecondition))
	}
	if err := setWinsize(mc.master, uint16(w), uint16(h)); err != nil {
		return errResponse(fmt.Errorf("resize terminal of %q: %w", mc.id, err))
	}
	return monResponse{}
}
