package fsutil

import (
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is wrapped by ReadAllLimited when r holds more than the allowed bytes.
var ErrTooLarge = errors.New("too large")

// ReadAllLimited reads r to its end, failing (ErrTooLarge) once it yields more than max bytes
// instead of reading a hostile file or response whole into memory.
func ReadAllLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	}
	return b, nil
}
