// Command httpd stands in for Apache httpd in the critest fixture image `httpd`: it serves a page
// on :80, logs lines naming httpd to stderr, and stops on SIGWINCH (the image's StopSignal,
// Apache's graceful stop), SIGTERM or SIGINT.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	pid := os.Getpid()
	fmt.Fprintf(os.Stderr, "[mpm_event:notice] [pid %d] AH00489: httpd (crishim e2e fixture) configured -- resuming normal operations\n", pid)
	fmt.Fprintf(os.Stderr, "[core:notice] [pid %d] AH00094: Command line: 'httpd -D FOREGROUND'\n", pid)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "[mpm_event:notice] [pid %d] AH00492: httpd caught %v, shutting down gracefully\n", pid, sig)
		os.Exit(0)
	}()

	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "<html><body><h1>It works!</h1></body></html>")
	})
	if err := http.ListenAndServe(":80", nil); err != nil {
		fmt.Fprintf(os.Stderr, "httpd: %v\n", err)
		os.Exit(1)
	}
}
