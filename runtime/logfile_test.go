package runtime

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func fixedLog() (*logFile, *bytes.Buffer) {
	var b bytes.Buffer
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	return &logFile{path: "x", f: nopCloser{&b}, now: func() time.Time { return ts }}, &b
}

func TestLogLines(t *testing.T) {
	l, b := fixedLog()
	long := strings.Repeat("a", 40)
	l.pump(streamStdout, strings.NewReader("one\r\ntwo\n\n"+long+"\nlast"), 16)
	want := strings.Join([]string{
		"2026-01-02T03:04:05.000006Z stdout F one",
		"2026-01-02T03:04:05.000006Z stdout F two",
		"2026-01-02T03:04:05.000006Z stdout F ",
		"2026-01-02T03:04:05.000006Z stdout P aaaaaaaaaaaaaaaa",
		"2026-01-02T03:04:05.000006Z stdout P aaaaaaaaaaaaaaaa",
		"2026-01-02T03:04:05.000006Z stdout F aaaaaaaa",
		"2026-01-02T03:04:05.000006Z stdout F last",
	}, "\n") + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestLogStreamsDoNotInterleave writes two streams at once; every line must stay whole.
func TestLogStreamsDoNotInterleave(t *testing.T) {
	l, b := fixedLog()
	var wg sync.WaitGroup
	for _, s := range []string{streamStdout, streamStderr} {
		r, w := io.Pipe()
		wg.Add(2)
		go func() { defer wg.Done(); l.pump(s, r, 1024) }()
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				_, _ = w.Write([]byte(strings.Repeat(s[3:4], 100) + "\n"))
			}
			w.Close()
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, ln := range lines {
		f := strings.SplitN(ln, " ", 4)
		if len(f) != 4 || f[2] != "F" || f[3] != strings.Repeat(f[1][3:4], 100) {
			t.Fatalf("mangled line %q", ln)
		}
	}
}

func TestLogReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "c.log")
	l, err := openLogFile(p)
	if err != nil {
		t.Fatal(err)
	}
	l.writeLine(streamStdout, tagFull, []byte("before"))
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.reopen(); err != nil {
		t.Fatal(err)
	}
	l.writeLine(streamStdout, tagFull, []byte("after"))
	_ = l.close()
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if !strings.HasSuffix(string(old), " stdout F before\n") || !strings.HasSuffix(string(cur), " stdout F after\n") ||
		strings.Count(string(old)+string(cur), "\n") != 2 {
		t.Fatalf("old %q new %q", old, cur)
	}
}

func TestCappedBuffer(t *testing.T) {
	c := &cappedBuffer{limit: 10}
	for i := 0; i < 5; i++ {
		if n, err := c.Write([]byte("abcd")); n != 4 || err != nil {
			t.Fatalf("Write = %d %v", n, err)
		}
	}
	if string(c.b) != "abcdabcdab" {
		t.Fatalf("kept %q", c.b)
	}
}
