package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"

	"github.com/crishim/crishim/internal/errdefs"
)

// initialSizeWait is how long a tty exec waits for the client's first terminal size before
// starting the command (kubectl and crictl send it at once), so the command starts with the
// right size instead of 0x0.
const initialSizeWait = 100 * time.Millisecond

// Exec runs o.Cmd interactively in a running container (its namespaces, cgroup, identity,
// environment and working directory) and returns its exit code once it has exited and its
// output is drained. With o.TTY the command gets a pseudo terminal (created inside the
// container by libcontainer; the master comes back over a console socket) whose size follows
// o.Resize, and stdout and stderr both go to o.Stdout. The end of o.Stdin closes the
// command's stdin (with a tty: hangs the terminal up, as containerd does). ctx ending kills
// the command and its descendants. A goroutine reading o.Stdin may outlive the call until
// o.Stdin returns (the caller closes it).
func (m *Manager) Exec(ctx context.Context, id string, o ExecOptions) (int32, error) {
	if len(o.Cmd) == 0 || o.Cmd[0] == "" {
		return -1, fmt.Errorf("exec in container %q: empty command: %w", id, errdefs.ErrInvalidArgument)
	}
	t, err := m.runningTarget(id)
	if err != nil {
		return -1, err
	}
	lc, err := libcontainer.Load(m.lcRoot, id)
	if err != nil {
		return -1, fmt.Errorf("container %q is not running: %w: %w", id, errdefs.ErrFailedPrecondition, err)
	}
	p := m.execProcess(t, o.Cmd)
	sio, err := newExecStdio(p, o)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	if err := lc.Run(p); err != nil {
		sio.closeAll()
		return -1, fmt.Errorf("exec %q in container %q: %w", o.Cmd[0], id, err)
	}
	if err := sio.started(); err != nil {
		killWait(p)
		sio.closeAll()
		return -1, fmt.Errorf("exec %q in container %q: %w", o.Cmd[0], id, err)
	}
	sio.pump(o)
	code, killed := waitExec(ctx, p, 0)
	sio.finish()
	if killed {
		return code, fmt.Errorf("exec %q in container %q: %w: %w", o.Cmd[0], id, errdefs.ErrDeadlineExceeded, ctx.Err())
	}
	return code, nil
}

// killWait kills and reaps a started exec process.
func killWait(p *libcontainer.Process) {
	if pid, err := p.Pid(); err == nil {
		killTree(pid)
	}
	_, _ = p.Wait()
}

// execStdio holds our ends of an exec's stdio.
type execStdio struct {
	tty       bool
	childEnds []*os.File // the process's ends: closed once it started
	sockPair  *os.File   // tty: our end of the console socket
	console   *os.File   // tty: pty master (stdin and output)
	stdinW    *os.File   // no tty: write end of the stdin pipe
	outR      *os.File   // stdout (no tty)
	errR      *os.File   // stderr (no tty)
	copies    sync.WaitGroup
	done      chan struct{} // closed by finish: stops the resize forwarder
}

// newExecStdio prepares the process's stdio: a console socket with a tty, else pipes.
func newExecStdio(p *libcontainer.Process, o ExecOptions) (*execStdio, error) {
	s := &execStdio{tty: o.TTY, done: make(chan struct{})}
	if o.TTY {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return nil, err
		}
		s.sockPair, p.ConsoleSocket = parent, child
		s.childEnds = append(s.childEnds, child)
		if !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
			p.Env = append(slices.Clip(p.Env), "TERM=xterm")
		}
		if o.Resize != nil {
			select {
			case sz, ok := <-o.Resize:
				if ok {
					p.ConsoleWidth, p.ConsoleHeight = sz.Width, sz.Height
				}
			case <-time.After(initialSizeWait):
			}
		}
		return s, nil
	}
	if o.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		p.Stdin, s.stdinW = r, w
		s.childEnds = append(s.childEnds, r)
	}
	for _, ours := range []**os.File{&s.outR, &s.errR} {
		r, w, err := os.Pipe()
		if err != nil {
			s.closeAll()
			return nil, err
		}
		*ours = r
		s.childEnds = append(s.childEnds, w)
	}
	p.Stdout, p.Stderr = s.childEnds[len(s.childEnds)-2], s.childEnds[len(s.childEnds)-1]
	return s, nil
}

// started closes the process's ends and, with a tty, receives the pty master.
func (s *execStdio) started() error {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
	if !s.tty {
		return nil
	}
	master, err := utils.RecvFile(s.sockPair)
	s.sockPair.Close()
	s.sockPair = nil
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	s.console = pollable(master)
	return nil
}

// pump starts copying stdin in and output out.
func (s *execStdio) pump(o ExecOptions) {
	out := func(w io.Writer, r *os.File) {
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			_, _ = io.Copy(keepDraining(w), r)
		}()
	}
	if s.tty {
		out(o.Stdout, s.console)
		if o.Stdin != nil {
			go func() {
				_, _ = io.Copy(s.console, o.Stdin)
				s.console.Close() // hang up
			}()
		}
		if o.Resize != nil {
			go forwardResizes(s.done, o.Resize, func(sz TermSize) { _ = setWinsize(s.console, sz) })
		}
		return
	}
	out(o.Stdout, s.outR)
	out(o.Stderr, s.errR)
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(s.stdinW, o.Stdin)
			s.stdinW.Close()
		}()
	}
}

// finish waits (bounded) for the output to drain after the process exited, then closes
// everything: a background process holding the output open cannot block the call.
func (s *execStdio) finish() {
	close(s.done)
	drained := make(chan struct{})
	go func() { s.copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrainGrace):
	}
	s.closeAll()
	<-drained
}

func (s *execStdio) closeAll() {
	for _, f := range append(s.childEnds, s.sockPair, s.console, s.stdinW, s.outR, s.errR) {
		if f != nil {
			f.Close()
		}
	}
}

// keepDraining wraps w (nil = discard) so that a failing client does not stop the copy: the
// process must never block on a full output pipe.
func keepDraining(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return &drainWriter{w: w}
}

type drainWriter struct {
	w      io.Writer
	failed bool
}

func (d *drainWriter) Write(p []byte) (int, error) {
	if !d.failed {
		if _, err := d.w.Write(p); err != nil {
			d.failed = true
		}
	}
	return len(p), nil
}
