package cni

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

// TestRootDelPluginMissing (issue 14 item 6): a plugin removed after ADD makes DEL fail at
// once with FailedPrecondition naming the plugin (no retries: none can help, and the sandbox
// gives up on the network for such a cause), keeping the attachment recorded; the start-up GC
// releases it once the plugin is back.
func TestRootDelPluginMissing(t *testing.T) {
	bin := t.TempDir()
	installTestPlugin(t, bin, testPluginName)
	e := newRootEnv(t, bin)
	ctx := context.Background()
	twoPluginList(t, e, testPluginName, "")
	p := e.pod(t, "gone")
	if _, err := e.m.Setup(ctx, p); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if err := os.Remove(filepath.Join(bin, testPluginName)); err != nil {
		t.Fatal(err)
	}
	err := e.m.Teardown(ctx, p)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), testPluginName) ||
		!strings.Contains(err.Error(), "cni-test/gone") {
		t.Fatalf("Teardown() = %v, want FailedPrecondition naming the plugin and the pod", err)
	}
	if e.leaseCount() != 1 {
		t.Errorf("lease count %d after a DEL without its plugin, want 1 (kept for the GC)", e.leaseCount())
	}
	installTestPlugin(t, bin, testPluginName)
	if err := e.m.GC(ctx, nil); err != nil {
		t.Fatalf("GC: %v", err)
	}
	e.assertClean(t)
}

// TestSetupRefusesNUL (issue 14 item 5): a NUL in a pod's name, namespace or uid cannot be
// passed to a plugin's environment: Setup refuses it before anything is done.
func TestSetupRefusesNUL(t *testing.T) {
	m := &Manager{}
	for _, p := range []PodNetwork{
		{ID: "abc", NetNS: "/x", Name: "a\x00", Namespace: "n", UID: "u"},
		{ID: "abc", NetNS: "/x", Name: "a", Namespace: "n\x00", UID: "u"},
		{ID: "abc", NetNS: "/x", Name: "a", Namespace: "n", UID: "\x00"},
	} {
		if _, err := m.Setup(context.Background(), p); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Setup(%q) = %v, want InvalidArgument", p.Name+"/"+p.Namespace+"/"+p.UID, err)
		}
	}
}

// TestDelArgsWithoutNUL: a record made by an older daemon with a NUL in an argument still
// gets its DEL: the argument is left out (plugins need only the container id and netns).
func TestDelArgsWithoutNUL(t *testing.T) {
	got := delArgs([][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "a\x00b"}, {"K8S_POD_UID", "u"}})
	if len(got) != 2 || got[0][0] != "IgnoreUnknown" || got[1][0] != "K8S_POD_UID" {
		t.Fatalf("delArgs = %q", got)
	}
}
