// Command cribench benchmarks CRI runtimes side by side. Subcommands:
//
//	cribench run --endpoint containerd=unix:///…/containerd.sock --endpoint crishim=unix:///…/crishim.sock [flags]
//	cribench freeport             print a free TCP port on 127.0.0.1
//	cribench cleanup --endpoint …  remove every pod labelled by cribench on the endpoints
//	cribench tomlset --base FILE --set key=value …  print FILE with keys replaced
//
// run prints a table on stdout and writes the full report as JSON (--json).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(ctx, os.Args[2:])
	case "cleanup":
		err = cmdCleanup(ctx, os.Args[2:])
	case "freeport":
		err = cmdFreePort()
	case "tomlset":
		err = cmdTOMLSet(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cribench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cribench run|cleanup|freeport|tomlset [flags] (-h for flags)")
	os.Exit(2)
}

func cmdFreePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

// String prints the collected values.
func (m *multiFlag) String() string { return fmt.Sprint(*m) }

// Set appends one value.
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if !verbose {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	return fs.Parse(args)
}
