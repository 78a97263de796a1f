package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// Daemon is a runtime daemon (the shim, or a peer runtime) started by the e2e runner. Its output
// goes to a log file, and it starts inside a cgroup v2 directory of its own so that every
// process it leaves behind can be found (see Leaks) — children stay in their parent's cgroup
// unless something moves them.
type Daemon struct {
	// Name names the daemon in messages.
	Name string
	// LogPath is the file holding its stdout and stderr.
	LogPath string
	// Cgroup is its cgroup v2 directory, "" when none could be created.
	Cgroup string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // wait result, valid once exited is closed
}

// StartDaemon starts argv with its output appended to logPath, in a new cgroup v2 directory
// named cgroupName (at the root of the cgroup2 hierarchy) when one can be created.
func StartDaemon(name string, argv []string, logPath, cgroupName string) (*Daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d := &Daemon{Name: name, LogPath: logPath, exited: make(chan struct{})}
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// Its own process group: a terminal's SIGINT reaches the test only, which then stops
		// the daemon in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	d.cmd = newCmd()
	if dir, fd, err := newCgroup(cgroupName); err == nil {
		d.Cgroup = dir
		d.cmd.SysProcAttr.UseCgroupFD, d.cmd.SysProcAttr.CgroupFD = true, fd
		err = d.cmd.Start()
		_ = syscall.Close(fd)
		if err != nil { // e.g. a kernel without CLONE_INTO_CGROUP: start, then move.
			d.cmd = newCmd()
			if err := d.cmd.Start(); err != nil {
				return nil, fmt.Errorf("start %s: %w", name, err)
			}
			err = os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(d.cmd.Process.Pid)), 0o644)
			if err != nil {
				d.Cgroup = ""
			}
		}
	} else if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// cgroup2Root returns the mount point of the cgroup v2 hierarchy ("" when there is none).
func cgroup2Root() string {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil || len(mounts) == 0 {
		return ""
	}
	return mounts[0].Mountpoint
}

func newCgroup(name string) (string, int, error) {
	root := cgroup2Root()
	if root == "" || name == "" {
		return "", -1, errors.New("no cgroup v2 hierarchy")
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", -1, err
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return "", -1, err
	}
	return dir, fd, nil
}

// Pid returns the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Exited reports whether the daemon has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// WaitSocket waits until the daemon accepts connections on the unix socket path. It fails at
// once, with the end of the daemon's log, when the daemon exits first.
func (d *Daemon) WaitSocket(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if conn, err := net.Dial("unix", path); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited during start (%v); end of %s:\n%s", d.Name, d.err, d.LogPath, LogTail(d.LogPath, 40))
		case <-ctx.Done():
			return fmt.Errorf("%s: socket %s not ready after %v; end of %s:\n%s", d.Name, path, timeout, d.LogPath, LogTail(d.LogPath, 40))
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM, then SIGKILL when the daemon is still running after timeout. It returns
// an error when the daemon had to be killed or had already exited with an error.
func (d *Daemon) Stop(timeout time.Duration) error {
	if d.Exited() {
		if d.err != nil {
			return fmt.Errorf("%s had exited before stop: %w", d.Name, d.err)
		}
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if ee, ok := d.err.(*exec.ExitError); ok && !ee.Success() {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil // died of the signal without a handler: still a clean stop
			}
			return fmt.Errorf("%s exit after SIGTERM: %w", d.Name, d.err)
		}
		return nil
	case <-time.After(timeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	return fmt.Errorf("%s still running %v after SIGTERM: killed", d.Name, timeout)
}

// LogTail returns the last n lines of the file at path.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimRight(string(bytes.Join(lines, []byte("\n"))), "\n")
}
