package runtime

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// An attach connection starts like every monitor request (one JSON request, one JSON
// response) and then carries frames both ways until the container exits or the attacher
// goes away: a type byte, a big-endian uint32 payload length, the payload.
const (
	frameStdin      byte = 'i' // attacher → monitor: bytes for the container's stdin
	frameStdinClose byte = 'c' // attacher → monitor: the attacher's stdin ended
	frameResize     byte = 'r' // attacher → monitor: uint16 width, uint16 height
	frameStdout     byte = 'o' // monitor → attacher: container stdout (all output with a tty)
	frameStderr     byte = 'e' // monitor → attacher: container stderr
)

// maxFrame bounds a frame's payload, so a corrupt length cannot make a reader allocate
// gigabytes.
const maxFrame = 1 << 20

// frameWriter writes frames; safe for concurrent use.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	hdr [5]byte
}

func (fw *frameWriter) write(typ byte, p []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for {
		n := min(len(p), maxFrame)
		fw.hdr[0] = typ
		binary.BigEndian.PutUint32(fw.hdr[1:], uint32(n))
		if _, err := fw.w.Write(fw.hdr[:]); err != nil {
			return err
		}
		if _, err := fw.w.Write(p[:n]); err != nil {
			return err
		}
		if p = p[n:]; len(p) == 0 {
			return nil
		}
	}
}

// frameStream is an io.Writer sending what it is given as frames of one type.
type frameStream struct {
	fw  *frameWriter
	typ byte
}

// Write sends p as one or more frames.
func (s frameStream) Write(p []byte) (int, error) {
	if err := s.fw.write(s.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// readFrame reads one frame; buf is reused when large enough.
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach frame of %d bytes: %w", n, errFrameTooLarge)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

var errFrameTooLarge = errors.New("frame too large")

// resizePayload encodes a terminal size.
func resizePayload(s TermSize) []byte {
	var b [4]byte
	binary.BigEndian.PutUint16(b[0:], s.Width)
	binary.BigEndian.PutUint16(b[2:], s.Height)
	return b[:]
}

// parseResize decodes a terminal size; ok is false for a malformed payload.
func parseResize(p []byte) (TermSize, bool) {
	if len(p) != 4 {
		return TermSize{}, false
	}
	return TermSize{Width: binary.BigEndian.Uint16(p[0:]), Height: binary.BigEndian.Uint16(p[2:])}, true
}

// afterJSON returns the rest of a connection whose first message dec has decoded: what dec
// buffered, then conn, without the newline json.Encoder writes after each value.
func afterJSON(dec *json.Decoder, conn io.Reader) io.Reader {
	br := bufio.NewReader(io.MultiReader(dec.Buffered(), conn))
	if b, err := br.Peek(1); err == nil && b[0] == '\n' {
		_, _ = br.Discard(1)
	}
	return br
}
