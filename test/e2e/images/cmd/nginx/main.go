// Command nginx stands in for nginx in the critest fixture images `nginx` and `hostnet-nginx`.
// What critest looks at: the process's comm is `nginx` and its command line starts with
// `nginx: master process` (it re-executes itself with that title), it writes its pid to
// /var/run/nginx.pid, and it serves HTTP 200 on the port read from /etc/nginx/listen (default 80).
// SIGTERM, SIGINT and SIGQUIT stop it.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

const (
	titlePrefix = "nginx: master process "
	pidFile     = "/var/run/nginx.pid"
	listenFile  = "/etc/nginx/listen"
)

func main() {
	if !strings.HasPrefix(os.Args[0], titlePrefix) {
		retitle()
	}
	port := 80
	if b, err := os.ReadFile(listenFile); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			port = p
		}
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fail(err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		<-sigs
		_ = os.Remove(pidFile)
		os.Exit(0)
	}()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(os.Stdout, "%s - - \"%s %s %s\" 200\n", r.RemoteAddr, r.Method, r.URL.Path, r.Proto)
		fmt.Fprintln(w, "<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>")
	})
	fail(http.Serve(ln, nil))
}

// retitle re-executes the program with nginx's master process title as its only argument, so that
// /proc/PID/cmdline reads like nginx's; comm stays `nginx` (the executable's file name).
func retitle() {
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/sbin/nginx"
	}
	title := titlePrefix + strings.Join(append([]string{"nginx"}, os.Args[1:]...), " ")
	fail(syscall.Exec(exe, []string{title}, os.Environ()))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "nginx: [emerg] %v\n", err)
	os.Exit(1)
}
