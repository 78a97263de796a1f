package runtime

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAttach(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)

	// stdin + stdin_once: cat echoes what the session sends and exits at its EOF.
	cat := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command, s.Stdin, s.StdinOnce = []string{"cat"}, true, true
	})
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- m.Attach(ctx, cat.ID, AttachOptions{Stdin: strings.NewReader("hello\n"), Stdout: &syncBuffer{b: &out}})
	}()
	select {
	case err := <-done:
		if err != nil || out.String() != "hello\n" {
			t.Fatalf("attach: %v, out %q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end when the container exited")
	}
	if st := waitExit(t, m, cat.ID, 5*time.Second); st.ExitCode != 0 {
		t.Fatalf("cat exit %d", st.ExitCode)
	}
	if l := readLog(t, cat.LogPath); len(l) != 1 || l[0][2] != "hello" {
		t.Fatalf("log %v", l)
	}

	// Two sessions at once see both streams.
	two := startSleeper(t, m, pod, func(s *ContainerSpec) {
		s.Command = []string{"sh", "-c", "sleep 0.5; echo X; echo Y >&2"}
	})
	var wg sync.WaitGroup
	bufs := make([][2]bytes.Buffer, 2)
	for i := range bufs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Attach(ctx, two.ID, AttachOptions{Stdout: &syncBuffer{b: &bufs[i][0]}, Stderr: &syncBuffer{b: &bufs[i][1]}}); err != nil {
				t.Errorf("attach %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range bufs {
		if bufs[i][0].String() != "X\n" || bufs[i][1].String() != "Y\n" {
			t.Errorf("session %d: stdout %q stderr %q", i, bufs[i][0].String(), bufs[i][1].String())
		}
	}
	if err := m.Attach(ctx, two.ID, AttachOptions{}); !isKind(err, errInvalidMon) && err == nil {
		t.Errorf("attach to an exited container succeeded")
	}
}

func TestAttachTTY(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	st := startSleeper(t, m, newTestPod(t), func(s *ContainerSpec) {
		s.Command, s.TTY, s.Stdin = []string{"sh"}, true, true
	})
	sizes := make(chan TermSize, 1)
	sizes <- TermSize{Width: 77, Height: 22}
	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- m.Attach(ctx, st.ID, AttachOptions{Stdin: pr, Stdout: &syncBuffer{b: &out}, TTY: true, Resize: sizes})
	}()
	time.Sleep(300 * time.Millisecond) // attached and resized
	_, _ = pw.Write([]byte("stty size; exit 5\n"))
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "22 77") {
			t.Fatalf("tty attach: %v, out %q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tty attach did not end")
	}
	pw.Close()
	if ex := waitExit(t, m, st.ID, 5*time.Second); ex.ExitCode != 5 {
		t.Fatalf("exit %d", ex.ExitCode)
	}
}
