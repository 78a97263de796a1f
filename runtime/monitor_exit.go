package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// waitExit reaps the init, drains the output, records the exit (exit.json) and frees the
// container's cgroup.
func (mc *monCtr) waitExit(m *monitor) {
	if pid, err := mc.p.Pid(); err == nil {
		waitExitable(pid)
	}
	ps, _ := mc.p.Wait()
	finished := time.Now()
	code := int32(255)
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				code = 128 + int32(ws.Signal())
			default:
				code = int32(ws.ExitStatus())
			}
		}
	}
	if !mc.privatePID {
		// The pid namespace is shared: kill what the init left behind in the cgroup.
		_ = mc.c.Signal(unix.SIGKILL)
	}
	drained := make(chan struct{})
	go func() { mc.pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(ioDrainTimeout):
		for _, o := range mc.outputs {
			o.f.Close()
		}
		<-drained
	}
	rec := exitRecord{Code: code, FinishedAt: finished, Reason: ReasonCompleted, StartedAt: mc.started()}
	if code != 0 {
		rec.Reason = ReasonError
	}
	if mc.oomKilled() {
		rec.Reason = ReasonOOMKilled
	}
	if err := writeFileRename(filepath.Join(mc.bundle, "exit.json"), rec); err != nil {
		m.log.Error("record exit", "id", mc.id, "err", err)
	}
	mc.exit = rec
	m.log.Info("container exited", "id", mc.id, "code", code, "reason", rec.Reason)
	mc.closeIO()
	_ = mc.c.Destroy()
	close(mc.done)
}

// oomKilled reports whether the cgroup OOM killer killed a process of the container.
func (mc *monCtr) oomKilled() bool {
	st, err := mc.c.State()
	if err != nil {
		return false
	}
	if p := st.CgroupPaths["memory"]; p != "" {
		return counter(filepath.Join(p, "memory.oom_control"), "oom_kill") > 0
	}
	if p := st.CgroupPaths[""]; p != "" {
		return counter(filepath.Join(p, "memory.events"), "oom_kill") > 0
	}
	return false
}

// counter reads "key value" from a cgroup flat-keyed file (0 when absent).
func counter(file, key string) uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func (mc *monCtr) exited() bool {
	select {
	case <-mc.done:
		return true
	default:
		return false
	}
}

func (mc *monCtr) started() time.Time {
	mc.startMu.Lock()
	defer mc.startMu.Unlock()
	return mc.startedAt
}

func (mc *monCtr) start() monResponse {
	mc.startMu.Lock()
	mc.startedAt = time.Now()
	mc.startMu.Unlock()
	if err := mc.c.Exec(); err != nil {
		mc.startMu.Lock()
		mc.startedAt = time.Time{}
		mc.startMu.Unlock()
		if mc.exited() {
			return errResponse(fmt.Errorf("container %q exited before start: %w", mc.id, errdefs.ErrFailedPrecondition))
		}
		return errResponse(fmt.Errorf("start container %q: %w", mc.id, err))
	}
	return monResponse{StartedAt: mc.started()}
}

func (mc *monCtr) kill(sig int) monResponse {
	if mc.exited() {
		return monResponse{Exit: &mc.exit}
	}
	err := mc.c.Signal(syscall.Signal(sig))
	if err != nil && !errors.Is(err, libcontainer.ErrNotRunning) && !mc.exited() {
		return errResponse(fmt.Errorf("signal container %q: %w", mc.id, err))
	}
	return monResponse{}
}

// wait returns once the container's exit is recorded, the timeout (if any) passes or the
// client goes away; Exit is nil when it has not exited.
func (mc *monCtr) wait(timeout time.Duration, gone <-chan struct{}) monResponse {
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-mc.done:
		return monResponse{Exit: &mc.exit}
	case <-tc:
	case <-gone:
	}
	return monResponse{}
}

func (mc *monCtr) state() monResponse {
	if mc.exited() {
		return monResponse{Status: "stopped", Exit: &mc.exit, StartedAt: mc.started()}
	}
	pid, _ := mc.p.Pid()
	st, err := mc.c.Status()
	if err != nil {
		return monResponse{Pid: pid, Status: "unknown", StartedAt: mc.started()}
	}
	return monResponse{Pid: pid, Status: st.String(), StartedAt: mc.started()}
}

// delete kills the container if needed, waits for its exit and removes its libcontainer
// state and cgroup.
func (mc *monCtr) delete() monResponse {
	if !mc.exited() {
		_ = mc.c.Signal(unix.SIGKILL)
		select {
		case <-mc.done:
		case <-time.After(30 * time.Second):
			return errResponse(fmt.Errorf("container %q did not exit after SIGKILL: %w", mc.id, errdefs.ErrDeadlineExceeded))
		}
	}
	if err := mc.c.Destroy(); err != nil {
		return errResponse(fmt.Errorf("destroy container %q: %w", mc.id, err))
	}
	return monResponse{}
}

func (mc *monCtr) reopen() monResponse {
	if mc.exited() {
		return errResponse(fmt.Errorf("container %q is not running: %w", mc.id, errdefs.ErrFailedPrecondition))
	}
	if err := mc.log.reopen(); err != nil {
		return errResponse(fmt.Errorf("reopen log of %q: %w", mc.id, err))
	}
	return monResponse{}
}

func readSpec(path string) (*specs.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode spec %s: %w", path, err)
	}
	if s.Process == nil {
		return nil, fmt.Errorf("spec %s has no process: %w", path, errdefs.ErrInvalidArgument)
	}
	return &s, nil
}

// writeFileRename writes v as JSON through a temp file and a rename: readers never see a torn
// file. No fsync: the file describes processes that a host crash ends anyway.
func writeFileRename(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var rlimitTypes = map[string]int{
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_AS": unix.RLIMIT_AS,
}

// newLCProcess converts an OCI process into a libcontainer process (without stdio).
func newLCProcess(p *specs.Process) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args: p.Args, Env: p.Env, Cwd: p.Cwd,
		UID: int(p.User.UID), GID: int(p.User.GID),
		NoNewPrivileges: &p.NoNewPrivileges,
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{Bounding: c.Bounding, Effective: c.Effective,
			Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: c.Ambient}
	}
	for _, r := range p.Rlimits {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			return nil, fmt.Errorf("rlimit %q: %w", r.Type, errdefs.ErrInvalidArgument)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: r.Hard, Soft: r.Soft})
	}
	return lp, nil
}

// waitExitable blocks until the child pid has exited (not reaping it) through a pidfd in the
// Go netpoller, so a waiting container costs a goroutine instead of an OS thread blocked
// in wait4. Any failure returns at once (the caller's Wait then blocks as usual).
func waitExitable(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err != nil || info.Signo != 0 // zeroed while not yet waitable
	})
}
