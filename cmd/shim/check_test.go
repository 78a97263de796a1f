package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/preflight"
)

// TestLogPreflight: one line per finding, at the level its status deserves, with the fix.
func TestLogPreflight(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logPreflight(log, []preflight.Result{
		{Name: "overlayfs", Status: preflight.OK, Detail: "supported"},
		{Name: "cgroup controllers", Status: preflight.Warn, Detail: "hugetlb missing", Fix: "mount it"},
		{Name: "iptables", Status: preflight.Fail, Detail: "not on PATH", Fix: "apt-get install iptables"},
	})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{`level=DEBUG msg="preflight ok" check=overlayfs`,
		`level=WARN msg="preflight warning" check="cgroup controllers" detail="hugetlb missing" fix="mount it"`,
		`level=ERROR msg="preflight failure" check=iptables detail="not on PATH" fix="apt-get install iptables"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], want)
		}
	}
}
