package cri

import (
	"context"
	"fmt"
	"io"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// Exec writes the fake's exec output to Stdout and returns its exit code.
func (f *fakeRuntime) Exec(ctx context.Context, id string, o runtime.ExecOptions) (int32, error) {
	f.mu.Lock()
	out, code, err := f.execOut, f.execCode, f.execErr
	f.execArgs = o.Cmd
	f.mu.Unlock()
	if o.Stdout != nil {
		_, _ = io.WriteString(o.Stdout, out)
	}
	return code, err
}

// Attach writes "attached\n" to Stdout.
func (f *fakeRuntime) Attach(ctx context.Context, id string, o runtime.AttachOptions) error {
	if o.Stdout != nil {
		_, _ = io.WriteString(o.Stdout, "attached\n")
	}
	return nil
}

// UpdateResources records the resources in the container's status.
func (f *fakeRuntime) UpdateResources(ctx context.Context, id string, r runtime.Resources) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.ctrs[id]
	if !ok {
		return fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	st.Resources = r
	f.ctrs[id] = st
	return nil
}
