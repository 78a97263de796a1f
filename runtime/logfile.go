package runtime

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CRI log stream names and tags.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
	tagPartial   = 'P'
	tagFull      = 'F'
)

// logFile writes CRI-format log lines ("<RFC3339Nano> <stream> <P|F> <line>") from several
// streams into one file; each line is a single write, so lines never interleave.
type logFile struct {
	mu   sync.Mutex
	path string
	f    io.WriteCloser // nil = discard
	now  func() time.Time
	buf  []byte
}

// openLogFile opens (appends to) path; "" discards everything.
func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path, now: time.Now}
	if path == "" {
		return l, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func openAppend(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// reopen opens the log path again (after rotation) and closes the old file; lines written
// before reopen returns went to the old file, later ones to the new one.
func (l *logFile) reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// writeLine writes one CRI log line.
func (l *logFile) writeLine(stream string, tag byte, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	b := l.now().AppendFormat(l.buf[:0], time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, line...)
	b = append(b, '\n')
	_, _ = l.f.Write(b)
	if cap(b) <= 64*1024 {
		l.buf = b
	}
}

// close closes the file.
func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// pump copies r into the log as lines of stream until EOF or a read error. Lines longer
// than max are split into partial (P) lines; the last piece of a line is F, also when the
// stream ends without a newline.
func (l *logFile) pump(stream string, r io.Reader, max int) {
	br := bufio.NewReaderSize(r, max)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			l.writeLine(stream, tagFull, line)
		case errors.Is(err, bufio.ErrBufferFull):
			l.writeLine(stream, tagPartial, line)
		default:
			if len(line) > 0 {
				l.writeLine(stream, tagFull, line)
			}
			return
		}
	}
}
