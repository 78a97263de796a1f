package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/errdefs"
)

func TestContainerImagesNotFound(t *testing.T) {
	svc, err := images.New(images.DefaultConfig(), filepath.Join(t.TempDir(), "images"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ci := containerImages{svc}
	if _, err := ci.ResolveImage(context.Background(), "busybox:1.36"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ResolveImage of a missing image = %v, want ErrNotFound", err)
	}
	if _, err := ci.PrepareRootfs(context.Background(), "c1", "sha256:0123"); err == nil {
		t.Error("PrepareRootfs of a missing image succeeded")
	}
}

func TestMonitorCommandIsHiddenAndRaw(t *testing.T) {
	cmd, _, err := newRootCommand().Find([]string{"monitor", "--socket", "/x"})
	if err != nil || cmd.Name() != "monitor" || !cmd.Hidden || !cmd.DisableFlagParsing {
		t.Errorf("monitor command: %v, %+v", err, cmd)
	}
}

func TestDefaultConfigHasRuntimeSection(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Runtime.CgroupParent = "relative"
	if err := cfg.Validate(); err == nil {
		t.Error("invalid runtime.cgroup_parent accepted")
	}
}
