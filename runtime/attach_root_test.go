package runtime

import (
	"bytes"
	"context"
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
