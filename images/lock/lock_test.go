package lock

import (
	"path/filepath"
	"testing"
)

func TestLocks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	s1, err := Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := TryExclusive(p); ok || err != nil {
		t.Fatalf("exclusive while shared held: ok=%v err=%v", ok, err)
	}
	s1()
	s2()
	u, ok, err := TryExclusive(p)
	if !ok || err != nil {
		t.Fatalf("exclusive when free: ok=%v err=%v", ok, err)
	}
	u()
}
