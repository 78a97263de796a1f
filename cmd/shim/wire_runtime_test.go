package main

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// imagesMount stands for images.Mount: a distinct type with runtime.Mount's fields.
type imagesMount struct {
	Type    string
	Source  string
	Options []string
}

type fakeRootfsSource struct{ removed string }

func (f *fakeRootfsSource) PrepareRootfs(ctx context.Context, key, imageID string) (imagesMount, error) {
	if imageID == "" {
		return imagesMount{}, errors.New("no image")
	}
	return imagesMount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l/" + imageID}}, nil
}

func (f *fakeRootfsSource) RemoveRootfs(ctx context.Context, key string) error {
	f.removed = key
	return nil
}

func TestRootfsAdapter(t *testing.T) {
	src := &fakeRootfsSource{}
	a := rootfsAdapter[imagesMount]{src: src}
	m, err := a.PrepareRootfs(context.Background(), "c1", "img")
	if err != nil || m.Type != "overlay" || !reflect.DeepEqual(m.Options, []string{"lowerdir=/l/img"}) {
		t.Errorf("PrepareRootfs = %+v, %v", m, err)
	}
	if _, err := a.PrepareRootfs(context.Background(), "c1", ""); err == nil {
		t.Error("error not passed through")
	}
	if err := a.RemoveRootfs(context.Background(), "c1"); err != nil || src.removed != "c1" {
		t.Errorf("RemoveRootfs: %v, removed %q", err, src.removed)
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
