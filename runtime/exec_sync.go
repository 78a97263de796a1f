package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// execDrainGrace bounds the wait for the output pipes after the exec'd process exited (a
// background child may keep them open).
const execDrainGrace = time.Second

// cappedBuffer keeps the first limit bytes written and silently drops the rest, so the
// writer is never blocked.
type cappedBuffer struct {
	b     []byte
	limit int
}

// Write keeps what fits under the limit and reports everything as written.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.limit - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// execTarget is what an exec needs from the container record.
type execTarget struct {
	env  []string
	cwd  string
	user User
}

// runningTarget returns the exec settings of a running container.
func (m *Manager) runningTarget(id string) (execTarget, error) {
	c, err := m.get(id)
	if err != nil {
		return execTarget{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshExit()
	if st := c.state(); st != StateRunning {
		return execTarget{}, fmt.Errorf("container %q is %s, not RUNNING: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	return execTarget{env: c.rec.Env, cwd: c.rec.Cwd, user: c.rec.User}, nil
}

// ExecSync runs cmd in a running container and returns its output (each stream capped at
// Config.ExecOutputLimit) and exit code. timeout 0 = no timeout (only ctx). On timeout the
// process and its descendants are killed and the error wraps errdefs.ErrDeadlineExceeded.
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, nil, 0, fmt.Errorf("exec in container %q: empty command: %w", id, errdefs.ErrInvalidArgument)
	}
	t, err := m.runningTarget(id)
	if err != nil {
		return nil, nil, 0, err
	}
	lc, err := libcontainer.Load(m.lcRoot, id)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("container %q is not running: %w: %w", id, errdefs.ErrFailedPrecondition, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, 0, err
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, nil, 0, err
	}
	defer errR.Close()
	p := &libcontainer.Process{
		Args: cmd, Env: t.env, Cwd: t.cwd, UID: int(t.user.UID), GID: int(t.user.GID),
		Stdout: outW, Stderr: errW, Init: false,
	}
	if n := min(m.host.NoFileHard, 1048576); n > 0 {
		p.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Hard: n, Soft: n}}
	}
	for _, g := range t.user.SupplementalGroups {
		p.AdditionalGroups = append(p.AdditionalGroups, int(g))
	}
	err = lc.Run(p)
	outW.Close()
	errW.Close()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec %q in container %q: %w", cmd[0], id, err)
	}
	ob := &cappedBuffer{limit: m.cfg.ExecOutputLimit}
	eb := &cappedBuffer{limit: m.cfg.ExecOutputLimit}
	drained := make(chan struct{}, 2)
	for _, x := range []struct {
		w io.Writer
		r *os.File
	}{{ob, outR}, {eb, errR}} {
		go func() { _, _ = io.Copy(x.w, x.r); drained <- struct{}{} }()
	}
	code, timedOut := waitExec(ctx, p, timeout)
	grace := time.NewTimer(execDrainGrace)
	for n := 0; n < 2; n++ {
		select {
		case <-drained:
		case <-grace.C:
			outR.Close() // unblocks the copies
			errR.Close()
			n--
			grace.Reset(time.Hour)
		}
	}
	grace.Stop()
	if timedOut {
		return ob.b, eb.b, code, fmt.Errorf("command %q in container %q timed out after %s: %w",
			strings.Join(cmd, " "), id, timeout, errdefs.ErrDeadlineExceeded)
	}
	return ob.b, eb.b, code, nil
}

// waitExec waits for the exec'd process; when the timeout or ctx ends first it kills the
// process and its descendants, then reaps it.
func waitExec(ctx context.Context, p *libcontainer.Process, timeout time.Duration) (int32, bool) {
	res := make(chan *os.ProcessState, 1)
	go func() { ps, _ := p.Wait(); res <- ps }()
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	timedOut := false
	var ps *os.ProcessState
	select {
	case ps = <-res:
	case <-tc:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		if pid, err := p.Pid(); err == nil {
			killTree(pid)
		}
		ps = <-res
	}
	return exitCode(ps), timedOut
}

func exitCode(ps *os.ProcessState) int32 {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// killTree stops root and all its descendants (so none can fork any more), then kills
// them all. root must be an unreaped child of ours, so its pid cannot be reused meanwhile.
func killTree(root int) {
	seen := map[int]bool{}
	for round := 0; round < 10; round++ {
		queue := []int{root}
		added := false
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			if !seen[pid] {
				seen[pid] = true
				added = true
				_ = unix.Kill(pid, unix.SIGSTOP)
			}
			queue = append(queue, procChildren(pid)...)
		}
		if !added {
			break
		}
	}
	for pid := range seen {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// procChildren lists the children of pid from /proc/<pid>/task/*/children.
func procChildren(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
