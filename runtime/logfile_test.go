package runtime

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	l, err := openLogFile(filepath.Dir(filepath.Dir(p)), p)
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

// TestLogNeverLeavesLogDir: a symlink planted at the log path or in its directories, a FIFO at
// the log path, or a path outside the pod's log directory never makes the runtime write
// elsewhere, at create and at reopen.
func TestLogNeverLeavesLogDir(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(dir string) string{
		"symlink at the log path": func(dir string) string {
			_ = os.MkdirAll(filepath.Join(dir, "c"), 0o755)
			_ = os.Symlink(victim, filepath.Join(dir, "c", "0.log"))
			return filepath.Join(dir, "c", "0.log")
		},
		"symlink in the path": func(dir string) string {
			_ = os.Symlink(outside, filepath.Join(dir, "c"))
			return filepath.Join(dir, "c", "victim")
		},
		"fifo at the log path": func(dir string) string {
			_ = syscall.Mkfifo(filepath.Join(dir, "0.log"), 0o644)
			return filepath.Join(dir, "0.log")
		},
		"outside the log dir": func(dir string) string { return victim },
		"dot-dot":             func(dir string) string { return dir + "/c/../../escaped.log" },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := plant(dir)
			if l, err := openLogFile(dir, p); err == nil {
				l.writeLine(streamStdout, tagFull, []byte("escaped"))
				l.close()
				t.Fatalf("opened %s", p)
			}
			if b, _ := os.ReadFile(victim); string(b) != "host file\n" {
				t.Fatalf("host file now %q", b)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped.log")); err == nil {
				t.Fatal("wrote above the log directory")
			}
		})
	}
	t.Run("reopen after a symlink swap", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "c", "0.log")
		l, err := openLogFile(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		defer l.close()
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
		if err := l.reopen(); err == nil {
			t.Fatal("reopen followed a symlink")
		}
		l.writeLine(streamStdout, tagFull, []byte("still here"))
		if b, _ := os.ReadFile(victim); string(b) != "host file\n" {
			t.Fatalf("host file now %q", b)
		}
		if b, _ := os.ReadFile(p + ".1"); !strings.HasSuffix(string(b), "still here\n") {
			t.Fatalf("a failed reopen lost the log: old file %q", b)
		}
	})
}
