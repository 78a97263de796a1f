package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
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
	dir  string // the pod's log directory path must stay under
	path string
	f    io.WriteCloser // nil = discard
	now  func() time.Time
	buf  []byte
}

// openLogFile opens (appends to) path, which must lie under dir, the pod's log directory
// ("" = path's own directory); path "" discards everything. See openBeneath.
func openLogFile(dir, path string) (*logFile, error) {
	l := &logFile{dir: dir, path: path, now: time.Now}
	if path == "" {
		return l, nil
	}
	f, err := openBeneath(dir, path)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

// beneath resolves a path inside the directory fd it starts from: no symlink, no "..", no
// jump to an absolute path or another mount's magic link.
var beneath = unix.OpenHow{Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}

// openBeneath opens path for appending, creating it (0640) and its missing directories (0755)
// below dir. The log directory is the kubelet's; everything below it may have been made by
// someone else (a container with the directory mounted): every component is created and
// opened relative to the previous one and never through a symlink, and the file must be a
// regular file, so a planted symlink or FIFO makes the open fail instead of writing elsewhere
// or blocking.
func openBeneath(dir, path string) (*os.File, error) {
	if dir == "" {
		dir = filepath.Dir(path)
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return nil, fmt.Errorf("log path %q is not below the log directory %q: %w", path, dir, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		if err := unix.Mkdirat(fd, p, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return nil, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		h := beneath
		h.Flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
		next, err := unix.Openat2(fd, p, &h)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("log path %q: directory %q: %w: %w", path, p, errdefs.ErrInvalidArgument, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	h := beneath
	// O_NONBLOCK: a FIFO planted at the path must not block the open (regular files ignore it).
	h.Flags = unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	h.Mode = 0o640
	ffd, err := unix.Openat2(fd, parts[len(parts)-1], &h)
	if err != nil {
		return nil, fmt.Errorf("log path %q: %w: %w", path, errdefs.ErrInvalidArgument, err)
	}
	f := os.NewFile(uintptr(ffd), path)
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("log path %q is not a regular file: %w", path, errdefs.ErrInvalidArgument)
	}
	return f, nil
}

// reopen opens the log path again (after rotation) and closes the old file; lines written
// before reopen returns went to the old file, later ones to the new one.
func (l *logFile) reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openBeneath(l.dir, l.path)
	if err != nil {
		return err // keep writing to the old file
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
