package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// modulePath is the main module; RepoRoot looks for its go.mod.
const modulePath = "github.com/crishim/crishim"

// RepoRoot returns the root of the crishim repository containing the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the crishim repository (no go.mod of " + modulePath + ")")
		}
		dir = parent
	}
}

// Prepare builds the image inputs under outDir (usually REPO/_output): the static busybox by
// hack/build-busybox.sh (built once, then cached at outDir/busybox/busybox) and the static helper
// programs of ./cmd (rebuilt each time; the Go build cache makes that fast). Build output goes
// to logw.
func Prepare(ctx context.Context, repoRoot, outDir string, logw io.Writer) (Inputs, error) {
	in := Inputs{
		Busybox:   filepath.Join(outDir, "busybox", "busybox"),
		HelperDir: filepath.Join(outDir, "e2e-helpers"),
	}
	bb := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "hack", "build-busybox.sh"), in.Busybox)
	bb.Dir, bb.Stdout, bb.Stderr = repoRoot, logw, logw
	if err := bb.Run(); err != nil {
		return Inputs{}, fmt.Errorf("build busybox: %w", err)
	}
	if err := os.MkdirAll(in.HelperDir, 0o755); err != nil {
		return Inputs{}, err
	}
	// -trimpath and an empty build id make the helpers, hence the digests, reproducible.
	gb := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=",
		"-o", in.HelperDir+string(filepath.Separator), "./test/e2e/images/cmd/...")
	gb.Dir, gb.Stdout, gb.Stderr = repoRoot, logw, logw
	gb.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if err := gb.Run(); err != nil {
		return Inputs{}, fmt.Errorf("build image helper programs: %w", err)
	}
	return in, nil
}
