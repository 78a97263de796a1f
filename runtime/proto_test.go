package runtime

import (
	"errors"
	"fmt"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestMonitorErrorKeepsKindOnce(t *testing.T) {
	err := errResponse(fmt.Errorf("config.command: %q not found: %w", "nope", errdefs.ErrInvalidArgument)).respErr()
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("kind lost: %v", err)
	}
	if got, want := err.Error(), `monitor: config.command: "nope" not found: invalid argument`; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	plain := errResponse(errors.New("boom")).respErr()
	if plain.Error() != "monitor: boom" || errors.Is(plain, errdefs.ErrInvalidArgument) {
		t.Errorf("plain error = %v", plain)
	}
}
