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

// nsRequest says which namespaces a helper or infra process creates and where it pins them.
type nsRequest struct {
	NetPin, IPCPin, UTSPin string // "" = keep the parent's namespace
	Hostname               string
	NewPID                 bool // infra only: become PID 1 of a new PID namespace
	PodID                  string
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
		f |= unix.CLONE_NEWPID
	}
	return f
}

// startNS re-executes the daemon binary as the helper (short-lived: creates and pins the
// namespaces, then exits) or as the infra process (the same, then stays as PID 1 of a new PID
// namespace, in its own session so it outlives the daemon). It returns once the namespaces
// are pinned. For the infra it returns the started command (the caller waits on it).
func startNS(ctx context.Context, sub string, r nsRequest, infra bool) (*exec.Cmd, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	cmd := exec.Command("/proc/self/exe", r.args(sub)...)
	cmd.Args[0] = "crishim-" + sub
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Dir = "/" // the infra outlives the daemon: never pin the daemon's working directory
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: r.cloneflags(), Setsid: infra}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if infra {
		cmd.Stderr = nil
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sub, err)
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
		cmd.Process.Kill()
		cmd.Wait()
		return nil, ctx.Err()
	}
	if reply != "ok\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s: %s%s", sub, strings.TrimSpace(reply), strings.TrimSpace(stderr.String()))
	}
	if !infra {
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("%s: %w", sub, err)
		}
	}
	return cmd, nil
}

// setupNamespaces runs inside the helper or infra: it is already in the new namespaces
// (clone flags); it sets the hostname, brings lo up and pins each namespace.
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
	for _, p := range []struct{ ns, pin string }{{"net", r.NetPin}, {"ipc", r.IPCPin}, {"uts", r.UTSPin}} {
		if p.pin == "" {
			continue
		}
		if err := unix.Mount("/proc/self/ns/"+p.ns, p.pin, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin %s namespace at %s: %w", p.ns, p.pin, err)
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

// HelperMain is the entry point of the hidden helper subcommand (default "pod-ns"): it is
// started in new namespaces, prepares and pins them, and exits. args are the arguments after
// the subcommand name. It returns the process exit code.
func HelperMain(args []string) int {
	r, err := parseNSArgs(args)
	if err == nil {
		err = setupNamespaces(r)
	}
	report(err)
	if err != nil {
		return 1
	}
	return 0
}

// InfraMain is the entry point of the hidden infra subcommand (default "pod-infra"): PID 1 of
// a pod's PID namespace. It prepares and pins the pod's other namespaces like HelperMain, then
// reaps orphans until SIGTERM, SIGINT or SIGKILL. It returns the process exit code.
func InfraMain(args []string) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD, unix.SIGHUP, unix.SIGPIPE)
	r, err := parseNSArgs(args)
	if err == nil {
		err = setupNamespaces(r)
	}
	report(err)
	if err != nil {
		return 1
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
