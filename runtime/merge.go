package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processArgs merges the container's command with the image defaults (Kubernetes rules).
func processArgs(cs ContainerSpec) ([]string, error) {
	ic := cs.Image.Config
	var args []string
	switch {
	case len(cs.Command) > 0:
		args = append(append(args, cs.Command...), cs.Args...)
	case len(cs.Args) > 0:
		args = append(append(args, ic.Entrypoint...), cs.Args...)
	default:
		args = append(append(args, ic.Entrypoint...), ic.Cmd...)
	}
	if len(args) == 0 || args[0] == "" {
		return nil, fmt.Errorf("container %q: no command specified and the image has none: %w", cs.Name, errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// processEnv merges the image environment with the container's (container wins), adds a
// default PATH when neither sets one, and HOSTNAME from the pod.
func processEnv(cs ContainerSpec) []string {
	var env []string
	idx := map[string]int{}
	set := func(kv string) {
		n := envName(kv)
		if i, ok := idx[n]; ok {
			env[i] = kv
			return
		}
		idx[n] = len(env)
		env = append(env, kv)
	}
	if cs.Pod.Hostname != "" {
		set("HOSTNAME=" + cs.Pod.Hostname)
	}
	for _, kv := range cs.Image.Config.Env {
		set(kv)
	}
	for _, kv := range cs.Env {
		set(kv)
	}
	if _, ok := idx["PATH"]; !ok {
		set(defaultPath)
	}
	return env
}

// processCwd returns the working directory: the container's, the image's, or "/".
func processCwd(cs ContainerSpec) string {
	switch {
	case cs.WorkingDir != "":
		return cs.WorkingDir
	case cs.Image.Config.WorkingDir != "":
		return cs.Image.Config.WorkingDir
	}
	return "/"
}

// parseSignal parses "SIGQUIT", "QUIT" or "3".
func parseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %q: out of range: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("signal %q: unknown: %w", s, errdefs.ErrInvalidArgument)
}

// stopSignal returns the container's stop signal: its own, the image's, or SIGTERM.
func stopSignal(cs ContainerSpec) (syscall.Signal, error) {
	if cs.StopSignal != 0 {
		return cs.StopSignal, nil
	}
	if cs.Image.Config.StopSignal != "" {
		return parseSignal(cs.Image.Config.StopSignal)
	}
	return syscall.SIGTERM, nil
}
