package runtime

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// MonitorSubcommand is argv[1] of a pod monitor process: the daemon re-executes its own
// binary as "<exe> monitor <flags>"; main must hand os.Args[2:] to MonitorMain.
const MonitorSubcommand = "monitor"

// monitor is the per-pod monitor process: the parent of every container init of its pod.
type monitor struct {
	root   string // libcontainer state root
	log    *slog.Logger
	ln     *net.UnixListener
	sock   string
	mu     sync.Mutex
	ctrs   map[string]*monCtr
	quit   chan struct{}
	closed bool
	trim   *time.Timer
}

// MonitorMain runs a pod monitor until it is told to shut down; it returns the exit code.
// Flags: --socket PATH (control socket), --root DIR (libcontainer state root), --pod ID,
// --ready-fd N (an inherited fd on which "ok\n" is written once the socket listens).
func MonitorMain(args []string) int {
	fs := flag.NewFlagSet(MonitorSubcommand, flag.ContinueOnError)
	sock := fs.String("socket", "", "control socket path")
	root := fs.String("root", "", "libcontainer state root")
	pod := fs.String("pod", "", "pod id (for logs)")
	readyFD := fs.Int("ready-fd", -1, "fd to report readiness on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pod", *pod, "monitor", os.Getpid())
	if *sock == "" || *root == "" {
		log.Error("monitor: --socket and --root are required")
		return 2
	}
	_ = os.Remove(*sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: *sock, Net: "unix"})
	if err != nil {
		log.Error("monitor: listen", "err", err)
		return 1
	}
	ln.SetUnlinkOnClose(false)
	_ = os.Chmod(*sock, 0o600)
	m := &monitor{root: *root, log: log, ln: ln, sock: *sock, ctrs: map[string]*monCtr{}, quit: make(chan struct{})}
	if *readyFD >= 0 {
		f := os.NewFile(uintptr(*readyFD), "ready")
		_, _ = f.Write([]byte("ok\n"))
		f.Close()
	}
	log.Info("monitor started")
	go m.serve()
	<-m.quit
	ln.Close()
	log.Info("monitor exiting")
	return 0
}

func (m *monitor) serve() {
	for {
		conn, err := m.ln.AcceptUnix()
		if err != nil {
			select {
			case <-m.quit:
				return
			default:
			}
			m.log.Error("accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go m.handle(conn)
	}
}

// handle serves one request; the connection closing early (client gone) cancels a wait.
func (m *monitor) handle(conn *net.UnixConn) {
	defer conn.Close()
	var req monRequest
	dec := json.NewDecoder(conn)
	if err := dec.Decode(&req); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:]) // returns when the client closes its end
		close(gone)
	}()
	resp := m.dispatch(req, gone)
	_ = json.NewEncoder(conn).Encode(resp)
	if req.Op == opCreate || req.Op == opDelete {
		m.trimSoon()
	}
	if req.Op == opShutdown {
		m.shutdown()
	}
}

func (m *monitor) dispatch(req monRequest, gone <-chan struct{}) monResponse {
	switch req.Op {
	case opPing:
		return monResponse{}
	case opShutdown:
		return m.deleteAll()
	case opCreate:
		return m.create(req)
	}
	c := m.get(req.ID)
	if c == nil {
		return errResponse(fmt.Errorf("container %q: %w", req.ID, errNotFoundMon))
	}
	switch req.Op {
	case opStart:
		return c.start()
	case opKill:
		return c.kill(req.Signal)
	case opWait:
		return c.wait(req.Timeout, gone)
	case opState:
		return c.state()
	case opDelete:
		r := c.delete()
		if r.Err == "" {
			m.mu.Lock()
			delete(m.ctrs, req.ID)
			m.mu.Unlock()
		}
		return r
	case opReopen:
		return c.reopen()
	}
	return errResponse(fmt.Errorf("unknown op %q: %w", req.Op, errInvalidMon))
}

// trimSoon returns freed heap to the OS shortly after a burst of creates or deletes, so an
// idle monitor stays small (the background scavenger alone takes minutes).
func (m *monitor) trimSoon() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trim == nil {
		m.trim = time.AfterFunc(time.Second, debug.FreeOSMemory)
		return
	}
	m.trim.Reset(time.Second)
}

func (m *monitor) get(id string) *monCtr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctrs[id]
}

// deleteAll kills and deletes every container (before shutdown).
func (m *monitor) deleteAll() monResponse {
	m.mu.Lock()
	all := make([]*monCtr, 0, len(m.ctrs))
	for _, c := range m.ctrs {
		all = append(all, c)
	}
	m.mu.Unlock()
	for _, c := range all {
		if r := c.delete(); r.Err != "" {
			return r
		}
		m.mu.Lock()
		delete(m.ctrs, c.id)
		m.mu.Unlock()
	}
	return monResponse{}
}

func (m *monitor) shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		_ = os.Remove(m.sock)
		close(m.quit)
	}
}
