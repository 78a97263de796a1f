// Command benchhelper is the one static program inside the benchmark's container images. It
// is a multi-call binary chosen by the name it is run as (argv[0]'s base name, or argv[1]
// when run as benchhelper): pause (wait for SIGTERM/SIGINT, reap children), sleep (sleep
// forever or N seconds, exit on SIGTERM), true, false and echo.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "benchhelper" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "pause":
		pause()
	case "sleep":
		sleep(args)
	case "true":
		os.Exit(0)
	case "false":
		os.Exit(1)
	case "echo":
		fmt.Println(strings.Join(args, " "))
	default:
		fmt.Fprintf(os.Stderr, "benchhelper: unknown applet %q (pause, sleep, true, false, echo)\n", name)
		os.Exit(127)
	}
}

// pause waits for SIGTERM or SIGINT and reaps every child that exits meanwhile.
func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

// sleep sleeps for the given seconds ("infinity" or nothing: forever); SIGTERM ends it.
func sleep(args []string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var timeout <-chan time.Time
	if len(args) > 0 && args[0] != "infinity" {
		secs, err := strconv.ParseFloat(args[0], 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sleep: invalid duration %q\n", args[0])
			os.Exit(2)
		}
		timeout = time.After(time.Duration(secs * float64(time.Second)))
	}
	select {
	case <-sigs:
	case <-timeout:
	}
}
