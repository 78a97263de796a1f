package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

var (
	errNotFoundMon = errdefs.ErrNotFound
	errInvalidMon  = errdefs.ErrInvalidArgument
)

// ioDrainTimeout bounds how long the monitor waits, after the init exited, for the output
// pipes to reach EOF (a leftover process of a shared pid namespace could hold them open).
const ioDrainTimeout = 2 * time.Second

// stdioOut is a read end of a container's output and the log stream it goes to.
type stdioOut struct {
	f      *os.File
	stream string
}

// monCtr is one container owned by the monitor.
type monCtr struct {
	id, bundle string
	c          *libcontainer.Container
	p          *libcontainer.Process
	log        *logFile
	stdin      *os.File   // write end of the container's stdin (nil without Stdin); att.stdinMu
	console    *os.File   // pty master with a tty (resize target)
	att        attachHub  // attach sessions
	outputs    []stdioOut // read ends pumped into the log
	pumps      sync.WaitGroup
	privatePID bool
	done       chan struct{} // closed once exit is recorded
	startMu    sync.Mutex
	startedAt  time.Time
	exit       exitRecord
	delOnce    sync.Once
}

// create builds the libcontainer container from <bundle>/config.json and starts its init
// process, which then waits for start (exec fifo).
func (m *monitor) create(req monRequest) (resp monResponse) {
	if m.get(req.ID) != nil {
		return errResponse(fmt.Errorf("container %q: %w", req.ID, errdefs.ErrAlreadyExists))
	}
	spec, err := readSpec(filepath.Join(req.Bundle, "config.json"))
	if err != nil {
		return errResponse(err)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: req.ID, Spec: spec})
	if err != nil {
		return errResponse(fmt.Errorf("libcontainer config: %w: %w", errdefs.ErrInvalidArgument, err))
	}
	c, err := libcontainer.Create(m.root, req.ID, cfg)
	if err != nil {
		return errResponse(fmt.Errorf("create container: %w", err))
	}
	mc := &monCtr{id: req.ID, bundle: req.Bundle, c: c, done: make(chan struct{}),
		privatePID: cfg.Namespaces.IsPrivate(configs.NEWPID) && cfg.Namespaces.PathOf(configs.NEWPID) == ""}
	defer func() {
		if resp.Err != "" {
			mc.closeIO()
			_ = c.Destroy()
		}
	}()
	p, err := newLCProcess(spec.Process)
	if err != nil {
		return errResponse(err)
	}
	p.Init = true
	if mc.log, err = openLogFile(req.LogDir, req.LogPath); err != nil {
		return errResponse(fmt.Errorf("open log file %q: %w", req.LogPath, err))
	}
	start, err := mc.setupIO(p, spec.Process.Terminal, req.Stdin)
	if err != nil {
		return errResponse(err)
	}
	if err := c.Start(p); err != nil {
		start(false)
		return errResponse(classifyStartErr(fmt.Errorf("start init: %w", err)))
	}
	if err := start(true); err != nil {
		_ = c.Signal(unix.SIGKILL)
		_, _ = p.Wait()
		return errResponse(err)
	}
	mc.p = p
	pid, _ := p.Pid()
	for _, o := range mc.outputs {
		mc.pumps.Add(1)
		go func(o stdioOut) {
			defer mc.pumps.Done()
			typ := frameStdout
			if o.stream == streamStderr {
				typ = frameStderr
			}
			mc.log.pump(o.stream, io.TeeReader(o.f, mc.att.tee(typ)), max(req.LineMax, 256))
		}(o)
	}
	m.mu.Lock()
	m.ctrs[req.ID] = mc
	m.mu.Unlock()
	go mc.waitExit(m)
	return monResponse{Pid: pid}
}

// setupIO wires the process stdio: pipes (or a pty with tty). The returned function is
// called after Start with its success; it closes the child's ends and, for a tty, receives
// the pty master.
func (mc *monCtr) setupIO(p *libcontainer.Process, tty, stdin bool) (func(bool) error, error) {
	var childEnds []*os.File
	closeChild := func() {
		for _, f := range childEnds {
			f.Close()
		}
	}
	if tty {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return nil, err
		}
		p.ConsoleSocket = child
		childEnds = append(childEnds, child)
		return func(ok bool) error {
			closeChild()
			defer parent.Close()
			if !ok {
				return nil
			}
			master, err := utils.RecvFile(parent)
			if err != nil {
				return fmt.Errorf("receive pty master: %w", err)
			}
			// Non-blocking, so reads go through the netpoller instead of holding a thread.
			master = pollable(master)
			mc.outputs = append(mc.outputs, stdioOut{master, streamStdout})
			mc.console = master
			if stdin {
				mc.stdin = master
			}
			return nil
		}, nil
	}
	for _, s := range []string{streamStdout, streamStderr} {
		r, w, err := os.Pipe()
		if err != nil {
			closeChild()
			return nil, err
		}
		mc.outputs = append(mc.outputs, stdioOut{r, s})
		childEnds = append(childEnds, w)
		if s == streamStdout {
			p.Stdout = w
		} else {
			p.Stderr = w
		}
	}
	if stdin {
		r, w, err := os.Pipe()
		if err != nil {
			closeChild()
			return nil, err
		}
		p.Stdin = r
		mc.stdin = w
		childEnds = append(childEnds, r)
	}
	return func(bool) error { closeChild(); return nil }, nil
}

// closeIO closes the monitor's ends of the container's stdio.
func (mc *monCtr) closeIO() {
	for _, o := range mc.outputs {
		o.f.Close()
	}
	mc.closeStdin()
	if mc.log != nil {
		mc.log.close()
	}
}

// pollable returns f as a non-blocking *os.File registered with the netpoller (f itself is
// closed), or f unchanged when that fails.
func pollable(f *os.File) *os.File {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return f
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return f
	}
	name := f.Name()
	f.Close()
	return os.NewFile(uintptr(fd), name)
}
