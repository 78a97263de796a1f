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
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// execProcess starts cmd in a running container as the container's user, with the stdio
// the caller set on p (nil = /dev/null).
func (m *Manager) execProcess(id string, cmd []string, tty bool, p *libcontainer.Process) error {
	if len(cmd) == 0 || cmd[0] == "" {
		return fmt.Errorf("exec in container %q: empty command: %w", id, errdefs.ErrInvalidArgument)
	}
	t, err := m.runningTarget(id)
	if err != nil {
		return err
	}
	lc, err := libcontainer.Load(m.lcRoot, id)
	if err != nil {
		return fmt.Errorf("container %q is not running: %w: %w", id, errdefs.ErrFailedPrecondition, err)
	}
	p.Args, p.Env, p.Cwd = cmd, t.env, t.cwd
	if tty && !slices.ContainsFunc(p.Env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") }) {
		p.Env = append(slices.Clone(p.Env), "TERM=xterm")
	}
	p.UID, p.GID, p.Init = int(t.user.UID), int(t.user.GID), false
	for _, g := range t.user.SupplementalGroups {
		p.AdditionalGroups = append(p.AdditionalGroups, int(g))
	}
	if n := min(m.host.NoFileHard, 1048576); n > 0 {
		p.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Hard: n, Soft: n}}
	}
	if err := lc.Run(p); err != nil {
		return fmt.Errorf("exec %q in container %q: %w", cmd[0], id, err)
	}
	return nil
}

// execIO holds the stdio plumbing of an interactive exec.
type execIO struct {
	child   []*os.File // ends given to the process, closed once it started
	parent  []*os.File // our ends, closed when Exec returns
	copies  []func()   // output copy loops
	stdinW  io.WriteCloser
	console *os.File // our end of the console socket (tty)
}

func (x *execIO) pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err == nil {
		x.parent = append(x.parent, r, w)
	}
	return r, w, err
}

// setup wires p's stdio for opts.
func (x *execIO) setup(p *libcontainer.Process, opts ExecOptions) error {
	if opts.TTY {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return err
		}
		x.parent, x.child, x.console = append(x.parent, parent), append(x.child, child), parent
		p.ConsoleSocket = child
		return nil
	}
	for _, o := range []struct {
		dst io.Writer
		set *io.Writer
	}{{opts.Stdout, &p.Stdout}, {opts.Stderr, &p.Stderr}} {
		if o.dst == nil {
			continue
		}
		r, w, err := x.pipe()
		if err != nil {
			return err
		}
		*o.set, x.child = w, append(x.child, w)
		dst := o.dst
		x.copies = append(x.copies, func() { _, _ = io.Copy(dst, r) })
	}
	if opts.Stdin != nil {
		r, w, err := x.pipe()
		if err != nil {
			return err
		}
		p.Stdin, x.stdinW, x.child = r, w, append(x.child, r)
	}
	return nil
}

// Exec runs an interactive process in a running container and returns its exit code. With
// TTY, stdout carries the terminal and Resize changes its size. The process (and what it
// started) is killed when ctx ends. Stdin is copied until it ends or the process exits.
func (m *Manager) Exec(ctx context.Context, id string, opts ExecOptions) (int32, error) {
	p := &libcontainer.Process{}
	x := &execIO{}
	defer func() {
		for _, f := range append(x.parent, x.child...) {
			f.Close()
		}
	}()
	if err := x.setup(p, opts); err != nil {
		return -1, err
	}
	if err := m.execProcess(id, opts.Cmd, opts.TTY, p); err != nil {
		return -1, err
	}
	for _, f := range x.child {
		f.Close() // our copies of the child's ends: without this no EOF ever comes
	}
	if opts.TTY {
		mf, err := utils.RecvFile(x.console)
		if err != nil {
			_ = p.Signal(unix.SIGKILL)
			_, _ = p.Wait()
			return -1, fmt.Errorf("receive exec pty: %w", err)
		}
		master := pollable(mf)
		x.parent, x.stdinW = append(x.parent, master), master
		if opts.Stdout != nil {
			x.copies = append(x.copies, func() { _, _ = io.Copy(opts.Stdout, master) })
		}
		go resizeLoop(ctx, master, opts.Resize)
	}
	if opts.Stdin != nil && x.stdinW != nil {
		go func() {
			_, _ = io.Copy(x.stdinW, opts.Stdin)
			if !opts.TTY {
				x.stdinW.Close() // EOF for the process (a tty user sends ^D)
			}
		}()
	}
	var wg sync.WaitGroup
	for _, f := range x.copies {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	code, _ := waitExec(ctx, p, 0)
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrainGrace):
	}
	return code, nil
}

// resizeLoop applies terminal sizes to the pty until the channel closes or ctx ends.
func resizeLoop(ctx context.Context, pty *os.File, sizes <-chan TermSize) {
	if sizes == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			_ = setWinsize(pty, sz.Width, sz.Height)
		}
	}
}

// setWinsize sets a pty's size; safe against a concurrent Close of the file.
func setWinsize(pty *os.File, w, h uint16) error {
	rc, err := pty.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
	}); err != nil {
		return err
	}
	return ioErr
}
