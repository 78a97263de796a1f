package runtime

import (
	"errors"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestClassifyStartErr(t *testing.T) {
	for _, c := range []struct {
		msg  string
		kind error
	}{
		{`unable to start container process: error during container init: exec: "/no": stat /no: no such file or directory`, errdefs.ErrInvalidArgument},
		{`unable to start container process: error during container init: exec: "x": executable file not found in $PATH`, errdefs.ErrInvalidArgument},
		{`unable to start container process: error during container init: error mounting "proc": permission denied`, nil},
		{`unable to apply cgroup configuration: no space left on device`, nil},
	} {
		err := classifyStartErr(errors.New(c.msg))
		if c.kind == nil {
			if errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%q: classified as invalid argument", c.msg)
			}
			continue
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%q: got %v, want kind %v", c.msg, err, c.kind)
		}
	}
	if classifyStartErr(nil) != nil {
		t.Error("nil error classified")
	}
}
