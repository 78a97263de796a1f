package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// procStat returns a process's state letter and start time (clock ticks since boot, field 22
// of /proc/<pid>/stat); the start time tells a live pid from a reused one.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("pid %d: short stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return f[0][0], start, err
}

// alive reports whether pid is still the process that started at start (and not a zombie).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, s, err := procStat(pid)
	return err == nil && s == start && st != 'Z' && st != 'X'
}

// killProcess SIGKILLs pid if it is still the recorded process and waits until it is gone.
// exited, when not nil, is closed by the goroutine that waits on a child we started.
func killProcess(ctx context.Context, pid int, start uint64, exited <-chan struct{}) error {
	if !alive(pid, start) {
		return nil
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill infra pid %d: %w", pid, err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if exited != nil {
			select {
			case <-exited:
				return nil
			default:
			}
		} else if !alive(pid, start) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for infra pid %d to exit: %w", pid, ctx.Err())
		case <-tick.C:
		}
	}
}

// findInfra looks for an infra process of the pod (used when the daemon died between
// starting it and recording its pid).
func findInfra(sub, podID string) (pid int, start uint64) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 3 && args[0] == "crishim-"+sub && args[1] == sub && args[2] == "--pod" && args[3] == podID {
			if _, s, err := procStat(p); err == nil {
				return p, s
			}
		}
	}
	return 0, 0
}
