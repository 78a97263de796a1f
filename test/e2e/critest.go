package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Tools are the cri-tools binaries.
type Tools struct {
	Critest, Crictl string
}

// BuildTools builds (or finds up to date) critest and crictl in outDir with
// hack/build-tools.sh, from the pinned tools module.
func BuildTools(ctx context.Context, repoRoot, outDir string, logw io.Writer) (Tools, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "hack", "build-tools.sh"), outDir)
	cmd.Dir, cmd.Stdout, cmd.Stderr = repoRoot, logw, logw
	if err := cmd.Run(); err != nil {
		return Tools{}, fmt.Errorf("hack/build-tools.sh: %w", err)
	}
	return Tools{Critest: filepath.Join(outDir, "critest"), Crictl: filepath.Join(outDir, "crictl")}, nil
}

// BuildShim builds the shim daemon (cgo, -tags seccomp) to out.
func BuildShim(ctx context.Context, repoRoot, out string, logw io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "seccomp", "-o", out, "./cmd/shim")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repoRoot, logw, logw
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/shim: %w", err)
	}
	return nil
}

// CritestRun describes one critest run.
type CritestRun struct {
	Critest  string // critest binary
	Endpoint string // CRI endpoint, e.g. unix:///run/crishim/crishim.sock
	// WorkDir receives the empty crictl config and the JSON report.
	WorkDir string
	// Timeout is the Ginkgo suite timeout.
	Timeout time.Duration
	// Focus and Skip are Ginkgo regular expressions (optional).
	Focus, Skip string
	// Extra arguments, e.g. "-benchmark".
	Extra []string
	// Output receives critest's output.
	Output io.Writer
}

// ReportPath is where the run's JSON report is written.
func (r CritestRun) ReportPath() string { return filepath.Join(r.WorkDir, "critest-report.json") }

// Run runs critest. Failing specs are not an error: the report says what failed. An error means
// critest could not run or wrote no report.
func (r CritestRun) Run(ctx context.Context) error {
	empty := filepath.Join(r.WorkDir, "crictl-empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return err
	}
	_ = os.Remove(r.ReportPath())
	args := []string{
		"--runtime-endpoint", r.Endpoint, "--image-endpoint", r.Endpoint,
		// An empty config: a host /etc/crictl.yaml must not interfere.
		"--config", empty,
		"--ginkgo.json-report", r.ReportPath(),
		"--ginkgo.timeout", r.Timeout.String(),
		"--ginkgo.flake-attempts=0",
		"--ginkgo.no-color",
	}
	if r.Focus != "" {
		args = append(args, "--ginkgo.focus", r.Focus)
	}
	if r.Skip != "" {
		args = append(args, "--ginkgo.skip", r.Skip)
	}
	args = append(args, r.Extra...)
	cmd := exec.CommandContext(ctx, r.Critest, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = r.WorkDir, r.Output, r.Output
	// Ginkgo writes its report on SIGINT/SIGTERM; give it a moment before the kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	runErr := cmd.Run()
	if _, err := os.Stat(r.ReportPath()); err != nil {
		return fmt.Errorf("critest wrote no report (%v): %w", runErr, err)
	}
	var ee *exec.ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		return fmt.Errorf("critest: %w", runErr)
	}
	return nil
}
