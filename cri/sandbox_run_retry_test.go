package cri

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/sandbox"
)

// After a daemon restart (a fresh manager and Server over the same store holding the pod the
// first RunPodSandbox made) the identical request gets that pod; a different request for the
// same name gets AlreadyExists naming it.
func TestRunPodSandboxRetryAfterRestart(t *testing.T) {
	dir := t.TempDir()
	req := runRequest("p")
	md := req.Config.Metadata
	holder := sandbox.Sandbox{ID: "0123456789abcdef", Name: md.Name, Namespace: md.Namespace, UID: md.Uid,
		Attempt: md.Attempt, RequestHash: requestHash(req), State: sandbox.StateReady}
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["phase"] = "created"
	b, _ = json.Marshal(rec)
	pdir := filepath.Join(dir, "root", "pods", holder.ID)
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "sandbox.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := sandbox.New(sandbox.DefaultConfig(), filepath.Join(dir, "root"), filepath.Join(dir, "state"), "/crishim-retry-test", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Options{Sandboxes: m})
	resp, err := s.RunPodSandbox(context.Background(), runRequest("p"))
	if err != nil || resp.PodSandboxId != holder.ID {
		t.Fatalf("identical retry after restart: %v, %v; want %s", resp, err, holder.ID)
	}
	other := runRequest("p")
	other.Config.Hostname = "different"
	if _, err := s.RunPodSandbox(context.Background(), other); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("different request: %v, want AlreadyExists", err)
	}
	if got := len(m.List()); got != 1 {
		t.Errorf("manager holds %d pods, want 1", got)
	}
}
