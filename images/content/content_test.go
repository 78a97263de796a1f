package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func dgst(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func TestIngest(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := dgst("hello")
	if err := s.Ingest(d, 5, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	b, err := s.ReadAll(d, 1<<20)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read back %q %v", b, err)
	}
	// Wrong content: rejected, nothing kept.
	bad := dgst("other")
	err = s.Ingest(bad, -1, strings.NewReader("hello"))
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("mismatch err = %v", err)
	}
	if s.Has(bad) {
		t.Fatal("mismatched blob kept")
	}
	if err := s.Ingest(dgst("abc"), 4, strings.NewReader("abc")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("size mismatch err = %v", err)
	}
	if ents, _ := os.ReadDir(s.IngestDir()); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
	l, _ := s.List()
	if len(l) != 1 || l[0] != d {
		t.Fatalf("List = %v", l)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Open(d); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
}

func TestValidDigest(t *testing.T) {
	for _, d := range []string{"", "sha256:", "md5:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("g", 64), "sha256:../../etc"} {
		if _, err := ValidDigest(d); err == nil {
			t.Errorf("ValidDigest(%q) accepted", d)
		}
	}
}
