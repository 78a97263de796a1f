package fsutil

import (
	"errors"
	"strings"
	"testing"
)

func TestReadAllLimited(t *testing.T) {
	if b, err := ReadAllLimited(strings.NewReader("12345"), 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the bound: %q, %v", b, err)
	}
	if _, err := ReadAllLimited(strings.NewReader("123456"), 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v, want ErrTooLarge", err)
	}
}
