package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// syncBuffer is a goroutine-safe buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecTTYResize(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, nil)

	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	resize := make(chan TermSize, 1)
	resize <- TermSize{Width: 80, Height: 24}
	type result struct {
		code int32
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := m.Exec(context.Background(), st.ID, ExecOptions{Cmd: []string{"sh"}, TTY: true, Stdin: inR, Stdout: out, Resize: resize})
		res <- result{code, err}
	}()
	_, _ = io.WriteString(inW, "stty size; echo TERM=$TERM; tty\n")
	waitFor(t, 10*time.Second, "first stty size", func() bool { return strings.Contains(out.String(), "24 80") })
	resize <- TermSize{Width: 132, Height: 50}
	waitFor(t, 10*time.Second, "resize to reach the pty", func() bool {
		_, _ = io.WriteString(inW, "stty size\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(out.String(), "50 132")
	})
	if s := out.String(); !strings.Contains(s, "TERM=xterm") || !strings.Contains(s, "/dev/pts/") {
		t.Fatalf("tty exec output lacks TERM or a pts: %q", s)
	}
	_, _ = io.WriteString(inW, "exit 3\n")
	r := <-res
	if r.err != nil || r.code != 3 {
		t.Fatalf("Exec: code %d err %v; output %q", r.code, r.err, out.String())
	}
}

func TestExecPipes(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, nil)

	out, errb := &syncBuffer{}, &syncBuffer{}
	code, err := m.Exec(ctx, st.ID, ExecOptions{
		Cmd:   []string{"sh", "-c", "cat; echo oops >&2; exit 5"},
		Stdin: strings.NewReader("from stdin\n"), Stdout: out, Stderr: errb,
	})
	if err != nil || code != 5 || out.String() != "from stdin\n" || errb.String() != "oops\n" {
		t.Fatalf("Exec: code %d err %v out %q stderr %q", code, err, out.String(), errb.String())
	}
	if _, err := m.Exec(ctx, st.ID, ExecOptions{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("empty command: %v", err)
	}
	if _, err := m.Exec(ctx, "nope", ExecOptions{Cmd: []string{"true"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown container: %v", err)
	}
	// The client going away kills the command.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := m.Exec(cctx, st.ID, ExecOptions{Cmd: []string{"sleep", "100"}, Stdout: out}); !errors.Is(err, errdefs.ErrDeadlineExceeded) {
		t.Fatalf("cancelled exec: %v", err)
	}
	if d := time.Since(t0); d > 30*time.Second { // the command sleeps 100 s; a busy machine is slow
		t.Fatalf("cancelled exec returned after %v", d)
	}
}

// attachSession runs Attach in the background.
type attachSession struct {
	out, err *syncBuffer
	stdin    *io.PipeWriter
	done     chan error
}

// write writes to the session's stdin; it fails the test when the session has ended
// (a pipe write would block forever).
func (a *attachSession) write(t *testing.T, s string) {
	t.Helper()
	select {
	case err := <-a.done:
		t.Fatalf("attach ended early: %v; output %q %q", err, a.out.String(), a.err.String())
	default:
	}
	w := make(chan struct{})
	go func() { _, _ = io.WriteString(a.stdin, s); close(w) }()
	select {
	case <-w:
	case err := <-a.done:
		t.Fatalf("attach ended early: %v; output %q %q", err, a.out.String(), a.err.String())
	case <-time.After(10 * time.Second):
		t.Fatal("stdin write blocked")
	}
}

func startAttach(m *Manager, id string, withStdin bool, tty bool, resize chan TermSize) *attachSession {
	a := &attachSession{out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan error, 1)}
	o := AttachOptions{Stdout: a.out, Stderr: a.err, TTY: tty}
	if resize != nil {
		o.Resize = resize
	}
	if withStdin {
		r, w := io.Pipe()
		a.stdin, o.Stdin = w, r
	}
	go func() { a.done <- m.Attach(context.Background(), id, o) }()
	return a
}

func TestAttachTwoAttachersStdinOnce(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", `while read l; do echo "got $l"; echo "err $l" >&2; done; echo bye`}
		s.Stdin, s.StdinOnce = true, true
	})
	a1 := startAttach(m, st.ID, true, false, nil)
	a2 := startAttach(m, st.ID, false, false, nil)
	// The attachers are registered once the monitor answers; poll by writing lines.
	waitFor(t, 10*time.Second, "both attachers to see output", func() bool {
		a1.write(t, "one\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(a1.out.String(), "got one") && strings.Contains(a2.out.String(), "got one")
	})
	if !strings.Contains(a2.err.String(), "err one") {
		t.Fatalf("second attacher's stderr: %q", a2.err.String())
	}
	// stdin_once: the end of the first attacher's stdin closes the container's stdin.
	a1.stdin.Close()
	for i, a := range []*attachSession{a1, a2} {
		select {
		case err := <-a.done:
			if err != nil {
				t.Fatalf("attacher %d: %v", i+1, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("attacher %d did not end after stdin_once closed stdin", i+1)
		}
		if !strings.Contains(a.out.String(), "bye") {
			t.Fatalf("attacher %d missed the last line: %q", i+1, a.out.String())
		}
	}
	if s := waitExit(t, m, st.ID, 10*time.Second); s.State != StateExited || s.ExitCode != 0 {
		t.Fatalf("container after stdin_once: %+v", s)
	}
	logb, _ := os.ReadFile(st.LogPath)
	if !strings.Contains(string(logb), "stdout F got one") || !strings.Contains(string(logb), "stderr F err one") {
		t.Fatalf("log file lacks attached output: %q", logb)
	}
	if err := m.Attach(context.Background(), st.ID, AttachOptions{Stdout: io.Discard}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("attach to exited container: %v", err)
	}
}

func TestAttachTTYResizeAndDetach(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh"}
		s.Stdin, s.TTY = true, true
	})
	resize := make(chan TermSize, 1)
	resize <- TermSize{Width: 91, Height: 33}
	a := startAttach(m, st.ID, true, true, resize)
	waitFor(t, 10*time.Second, "stty size through attach", func() bool {
		a.write(t, "stty size\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(a.out.String(), "33 91")
	})
	// Without stdin_once, ending the session leaves the container running.
	a.stdin.Close()
	ctx, cancel := context.WithCancel(context.Background())
	b := make(chan error, 1)
	go func() { b <- m.Attach(ctx, st.ID, AttachOptions{Stdout: io.Discard}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-b; err != nil {
		t.Fatalf("detach by cancel: %v", err)
	}
	if s, _ := m.Status(st.ID); s.State != StateRunning {
		t.Fatalf("container stopped after detach: %v", s.State)
	}
	if err := m.Stop(context.Background(), st.ID, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end when the container stopped")
	}
}

// TestExecAttachLeaks runs interactive execs (with and without a tty, some cancelled) and
// attach sessions, and checks that they leave no fd, child, goroutine or container process.
func TestExecAttachLeaks(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "while true; do echo tick; sleep 0.05; done"}
	})
	ctx := context.Background()
	_, _ = m.Exec(ctx, st.ID, ExecOptions{Cmd: []string{"true"}}) // warm up
	fds, kids, gor, inCtr := countFDs(), countChildren(), goruntime.NumGoroutine(), pidNSMembers(t, st.Pid)
	for i := 0; i < 60; i++ {
		o := ExecOptions{Cmd: []string{"sh", "-c", "cat; echo done"}, TTY: i%2 == 1, Stdout: io.Discard, Stderr: io.Discard}
		o.Stdin = strings.NewReader("x\n")
		cctx, cancel := context.WithCancel(ctx)
		if i%3 == 0 {
			o.Cmd, o.Stdin = []string{"sleep", "100"}, nil
			time.AfterFunc(50*time.Millisecond, cancel)
		}
		_, err := m.Exec(cctx, st.ID, o)
		cancel()
		if err != nil && !errors.Is(err, errdefs.ErrDeadlineExceeded) {
			t.Fatalf("exec %d: %v", i, err)
		}
		actx, acancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if err := m.Attach(actx, st.ID, AttachOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
		acancel()
	}
	var f, k, g, c int
	eventually(t, "attach leaves nothing behind", func() bool { // finished goroutines exit in their own time
		f, k, g, c = countFDs(), countChildren(), goruntime.NumGoroutine(), pidNSMembers(t, st.Pid)
		return f <= fds && k <= kids && g <= gor && c <= inCtr+1
	})
	t.Logf("fds %d→%d children %d→%d goroutines %d→%d container processes %d→%d", fds, f, kids, k, gor, g, inCtr, c)
	if f > fds || k > kids || g > gor || c > inCtr+1 { // +1: the container's own sleep may be running
		t.Fatalf("leak: fds %d→%d children %d→%d goroutines %d→%d container processes %d→%d", fds, f, kids, k, gor, g, inCtr, c)
	}
}
