package sandbox

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nsRequest says which namespaces a helper or infra process creates and where the daemon
// pins them.
type nsRequest struct {
	NetPin, IPCPin, UTSPin string // "" = keep the parent's namespace
	// UserPin, when set, makes the process start in a new user namespace with UIDs/GIDs
	// mapped; the other new namespaces are then created inside it (owned by it).
	UserPin    string
	UIDs, GIDs []IDMapping
	Hostname   string
	NewPID     bool // infra only: become PID 1 of a new PID namespace
	PodID      string
}

func (r nsRequest) args(sub string) []string {
	return []string{sub, "--pod", r.PodID, "--net", r.NetPin, "--ipc", r.IPCPin,
		"--uts", r.UTSPin, "--hostname", r.Hostname}
}

func (r nsRequest) cloneflags() uintptr {
	var f uintptr
	if r.NetPin != "" {
		f |= unix.CLONE_NEWNET
	}
	if r.IPCPin != "" {
		f |= unix.CLONE_NEWIPC
	}
	if r.UTSPin != "" {
		f |= unix.CLONE_NEWUTS
	}
	if r.NewPID {
		// The infra also gets a mount namespace of its own, emptied by confineInfra.
		f |= unix.CLONE_NEWPID | unix.CLONE_NEWNS
	}
	if r.UserPin != "" {
		// With CLONE_NEWUSER in the same clone the kernel creates the user namespace first
		// and makes it the owner of the other new namespaces.
		f |= unix.CLONE_NEWUSER
	}
	return f
}

// sysProcAttr returns the clone attributes. In a new user namespace the parent writes the
// mappings before the child runs on; setgroups stays allowed (containers joining the
// namespace call it) and the child becomes uid/gid 0 of the namespace so that it keeps its
// capabilities there across execve.
func (r nsRequest) sysProcAttr(infra bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Cloneflags: r.cloneflags(), Setsid: infra}
	if r.UserPin != "" {
		a.UidMappings = procIDMaps(r.UIDs)
		a.GidMappings = procIDMaps(r.GIDs)
		a.GidMappingsEnableSetgroups = true
		a.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	return a
}

func procIDMaps(ms []IDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(ms))
	for _, m := range ms {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return out
}

// pins lists the namespaces to pin: (name under /proc/<pid>/ns, pin file).
func (r nsRequest) pins() [][2]string {
	var out [][2]string
	for _, p := range [][2]string{{"user", r.UserPin}, {"net", r.NetPin}, {"ipc", r.IPCPin}, {"uts", r.UTSPin}} {
		if p[1] != "" {
			out = append(out, p)
		}
	}
	return out
}

// pinNamespaces bind-mounts the namespaces of pid onto their pin files. The daemon does it,
// not the helper: a helper in a new user namespace has no right to mount in the host's
// mount namespace.
func pinNamespaces(pid int, r nsRequest) error {
	for _, p := range r.pins() {
		src := fmt.Sprintf("/proc/%d/ns/%s", pid, p[0])
		if err := unix.Mount(src, p[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin %s namespace at %s: %w", p[0], p[1], err)
		}
	}
	return nil
}

// startNS re-executes the daemon binary as the helper (short-lived: prepares the namespaces,
// waits until the daemon pinned them, then exits) or as the infra process (the same, then
// stays as PID 1 of a new PID namespace, in its own session so it outlives the daemon). It
// returns once the namespaces are pinned. For the infra it returns the started command (the
// caller waits on it).
func startNS(ctx context.Context, sub string, r nsRequest, infra bool) (*exec.Cmd, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	relRd, relWr, err := os.Pipe() // the helper exits when relWr is closed
	if err != nil {
		wr.Close()
		return nil, err
	}
	defer relWr.Close()
	cmd := exec.Command("/proc/self/exe", r.args(sub)...)
	cmd.Args[0] = "crishim-" + sub
	cmd.ExtraFiles = []*os.File{wr, relRd}
	cmd.Dir = "/" // the infra outlives the daemon: never pin the daemon's working directory
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = r.sysProcAttr(infra)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if infra {
		cmd.Stderr = nil
	}
	err = cmd.Start()
	wr.Close()
	relRd.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sub, err)
	}
	fail := func(err error) (*exec.Cmd, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	msg := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rd)
		msg <- string(b)
	}()
	var reply string
	select {
	case reply = <-msg:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if reply != "ok\n" {
		return fail(fmt.Errorf("%s: %s%s", sub, strings.TrimSpace(reply), strings.TrimSpace(stderr.String())))
	}
	if err := pinNamespaces(cmd.Process.Pid, r); err != nil {
		return fail(err)
	}
	if !infra {
		relWr.Close()
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("%s: %w", sub, err)
		}
	}
	return cmd, nil
}

// setupNamespaces runs inside the helper or infra: it is already in the new namespaces
// (clone flags); it sets the hostname and brings lo up. The daemon pins the namespaces.
func setupNamespaces(r nsRequest) error {
	if r.UTSPin != "" && r.Hostname != "" {
		if err := unix.Sethostname([]byte(r.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if r.NetPin != "" {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	return nil
}

func parseNSArgs(args []string) (nsRequest, error) {
	var r nsRequest
	fs := flag.NewFlagSet("pod-ns", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&r.PodID, "pod", "", "pod id")
	fs.StringVar(&r.NetPin, "net", "", "net namespace pin")
	fs.StringVar(&r.IPCPin, "ipc", "", "ipc namespace pin")
	fs.StringVar(&r.UTSPin, "uts", "", "uts namespace pin")
	fs.StringVar(&r.Hostname, "hostname", "", "hostname")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = args[1:] // tolerate being passed argv[1:] including the subcommand
	}
	return r, fs.Parse(args)
}

// report writes the helper's verdict on fd 3 (the daemon's pipe) and closes it.
func report(err error) {
	f := os.NewFile(3, "ready")
	if f == nil {
		return
	}
	if err != nil {
		fmt.Fprintf(f, "%v\n", err)
	} else {
		io.WriteString(f, "ok\n")
	}
	f.Close()
}

// prepareReported parses the helper arguments, prepares the namespaces and reports the
// outcome to the daemon on fd 3 (HelperMain and InfraMain both start this way); then, when
// set, runs before the report (the infra confines itself there).
func prepareReported(args []string, then func() error) error {
	r, err := parseNSArgs(args)
	if err == nil {
		err = setupNamespaces(r)
	}
	if err == nil && then != nil {
		err = then()
	}
	report(err)
	return err
}

// HelperMain is the entry point of the hidden helper subcommand (default "pod-ns"): it is
// started in new namespaces, prepares them, holds them until the daemon has pinned them
// (end of file on fd 4), and exits. args are the arguments after the subcommand name. It
// returns the process exit code.
func HelperMain(args []string) int {
	if prepareReported(args, nil) != nil {
		return 1
	}
	if f := os.NewFile(4, "release"); f != nil {
		io.Copy(io.Discard, f)
		f.Close()
	}
	return 0
}

// InfraMain is the entry point of the hidden infra subcommand (default "pod-infra"): PID 1 of
// a pod's PID namespace. It prepares and pins the pod's other namespaces like HelperMain, then
// reaps orphans until SIGTERM, SIGINT or SIGKILL. It returns the process exit code.
func InfraMain(args []string) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD, unix.SIGHUP, unix.SIGPIPE)
	if prepareReported(args, confineInfra) != nil {
		return 1
	}
	if f := os.NewFile(4, "release"); f != nil {
		f.Close() // the infra stays alive on its own: no need to wait for the pins
	}
	for sig := range sigs {
		switch sig {
		case unix.SIGCHLD:
			reapAll()
		case unix.SIGHUP, unix.SIGPIPE:
		default:
			return 0
		}
	}
	return 0
}

func reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || errors.Is(err, unix.ECHILD) {
			return
		}
	}
}
