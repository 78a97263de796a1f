package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// record is what the tests store: Seq identifies the write, Pad makes records big enough that
// a non-atomic write would be seen half-done, and Sum lets a reader detect a torn record.
type record struct {
	Seq int    `json:"seq"`
	Pad string `json:"pad"`
	Sum int    `json:"sum"`
}

func newRecord(seq int) record {
	pad := strings.Repeat(strconv.Itoa(seq%10), 4096+seq%8192)
	return record{Seq: seq, Pad: pad, Sum: seq + len(pad)}
}

func (r record) valid() bool {
	return r.Sum == r.Seq+len(r.Pad) && r.Pad == strings.Repeat(strconv.Itoa(r.Seq%10), len(r.Pad))
}

func TestReadJSONMissingIsNotFound(t *testing.T) {
	var r record
	err := ReadJSON(filepath.Join(t.TempDir(), "absent.json"), &r)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("ReadJSON of a missing file: %v, want ErrNotFound", err)
	}
}

func TestWriteJSONRoundTripAndMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "r.json")
	if err := WriteJSON(p, newRecord(3)); err != nil {
		t.Fatal(err)
	}
	var r record
	if err := ReadJSON(p, &r); err != nil || r.Seq != 3 || !r.valid() {
		t.Fatalf("read back %v (valid %v): %v", r.Seq, r.valid(), err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 (%v)", st.Mode().Perm(), err)
	}
	if dst, _ := os.Stat(filepath.Dir(p)); dst.Mode().Perm() != 0o700 {
		t.Fatalf("created dir mode %v, want 0700", dst.Mode().Perm())
	}
}

// TestWriteJSONFailureKeepsOldRecord: a write that fails leaves the previous record and no
// temporary file behind.
func TestWriteJSONFailureKeepsOldRecord(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	if err := WriteJSON(p, newRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(p, map[string]any{"bad": make(chan int)}); err == nil {
		t.Fatal("encoding a channel succeeded")
	}
	// A rename onto a directory fails after the temp file was written and synced.
	if err := os.Mkdir(filepath.Join(dir, "d.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(filepath.Join(dir, "d.json"), newRecord(2)); err == nil {
		t.Fatal("writing over a directory succeeded")
	}
	var r record
	if err := ReadJSON(p, &r); err != nil || r.Seq != 1 {
		t.Fatalf("old record after failed writes: seq %d, %v", r.Seq, err)
	}
	assertNoTemps(t, dir)
}

// TestReadersNeverSeeTornRecord: readers racing a writer of large records always decode a
// whole record (old or new), never a partial one.
func TestReadersNeverSeeTornRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSON(p, newRecord(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, bad atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var r record
				if err := ReadJSON(p, &r); err != nil || !r.valid() {
					bad.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	for seq := 1; seq <= 200; seq++ {
		if err := WriteJSON(p, newRecord(seq)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads saw a torn or unreadable record", bad.Load(), reads.Load())
	}
}

// crashWriterEnv makes the test binary a writer that rewrites one record forever; the parent
// kills it with SIGKILL at arbitrary points.
const crashWriterEnv = "STORE_TEST_CRASH_WRITER"

func TestMain(m *testing.M) {
	if p := os.Getenv(crashWriterEnv); p != "" {
		for seq := 1; ; seq++ {
			if err := WriteJSON(p, newRecord(seq)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
	}
	os.Exit(m.Run())
}

// TestKillDuringWrites: a writer killed with SIGKILL at any instruction leaves a record that
// decodes whole, and CleanTemps removes the temporary files it left.
func TestKillDuringWrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.json")
	if err := WriteJSON(p, newRecord(0)); err != nil {
		t.Fatal(err)
	}
	last := 0
	for i := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+p)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+i*3) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("writer ended by itself: %v", err)
		}
		var r record
		if err := ReadJSON(p, &r); err != nil || !r.valid() {
			t.Fatalf("after kill %d: record seq %d valid %v: %v", i, r.Seq, r.valid(), err)
		}
		last = max(last, r.Seq)
		CleanTemps(dir)
		assertNoTemps(t, dir)
	}
	if last == 0 {
		t.Fatal("no writer completed a single write before its kill: the test proved nothing")
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}
