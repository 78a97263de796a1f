package content

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// endlessReader serves a blob far longer than announced (a hostile registry); 8 MiB, then EOF,
// so that a store without the limit fails the test instead of filling the disk.
type endlessReader struct{ n int64 }

func (e *endlessReader) Read(p []byte) (int, error) {
	if e.n >= 8<<20 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// TestIngestStopsAtDescriptorSize: a blob longer than its descriptor says fails as soon as it
// passes the size (an endless stream would otherwise fill the disk), and leaves no temp file.
func TestIngestStopsAtDescriptorSize(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &endlessReader{}
	done := make(chan error, 1)
	go func() { done <- s.Ingest(dgst("whatever"), 1000, r) }()
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a hang, not a speed: the limit stops it at once
		t.Fatal("Ingest of an endless blob did not stop")
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("err = %v, want InvalidArgument naming the size", err)
	}
	if r.n > 1<<20 {
		t.Errorf("read %d bytes of a 1000-byte blob", r.n)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "ingest")); len(ents) > 0 {
		t.Errorf("temp files left: %d", len(ents))
	}
	w, err := s.Writer(dgst("x"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if n, err := w.Write([]byte("abcd")); !errors.Is(err, errdefs.ErrInvalidArgument) || n > 3 {
		t.Fatalf("Write past the size = %d, %v", n, err)
	}
}

// TestReadAllBounded: metadata blobs (manifests, configs) are read with a bound.
func TestReadAllBounded(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat(" ", 2000)
	d, _, err := s.Add(strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(d, 1000); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("ReadAll over the bound: %v", err)
	}
	if b, err := s.ReadAll(d, 2000); err != nil || len(b) != 2000 {
		t.Fatalf("ReadAll at the bound: %d %v", len(b), err)
	}
}
