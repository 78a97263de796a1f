package cglimits

import (
	"errors"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		shares, period, quota, mem int64
		ok                         bool
	}{
		{0, 0, 0, 0, true},
		{2, 1000, -1, 4096, true},
		{262144, 1000000, 1000, 1 << 62, true},
		{1, 0, 0, 0, false},
		{-5, 0, 0, 0, false},
		{262145, 0, 0, 0, false},
		{0, 999, 0, 0, false},
		{0, 1000001, 0, 0, false},
		{0, 0, 999, 0, false},
		{0, 0, -2, 0, false},
		{0, 0, 0, 4095, false},
		{0, 0, 0, -1, false},
	} {
		err := Check(c.shares, c.period, c.quota, c.mem)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("Check(%d, %d, %d, %d) = %v, want ok=%v", c.shares, c.period, c.quota, c.mem, err, c.ok)
		}
	}
}
