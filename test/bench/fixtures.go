package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// helperPkg is the import path of the static helper program put into the images.
const helperPkg = "github.com/crishim/crishim/test/bench/cmd/benchhelper"

// BuildHelper compiles the static helper into dir with the go tool (run inside the module).
func BuildHelper(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "benchhelper")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, helperPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", helperPkg, err, b)
	}
	return out, nil
}

// PushFixtures builds the sleeper and pause images from the helper binary, pushes them
// as cribench/sleeper:1 and cribench/pause:1 and sets the runner's image references.
func (r *Runner) PushFixtures(ctx context.Context, helperBin string) error {
	layer, err := HelperLayer(helperBin)
	if err != nil {
		return err
	}
	sleeper, err := BuildImage([]v1Layer{layer}, []string{"/bin/sleep"}, []string{"infinity"}, "")
	if err != nil {
		return err
	}
	pause, err := BuildImage([]v1Layer{layer}, []string{"/bin/pause"}, nil, "65535:65535")
	if err != nil {
		return err
	}
	if err := r.Registry.Push(ctx, "cribench/sleeper:1", sleeper); err != nil {
		return fmt.Errorf("push sleeper: %w", err)
	}
	if err := r.Registry.Push(ctx, "cribench/pause:1", pause); err != nil {
		return fmt.Errorf("push pause: %w", err)
	}
	r.SleeperImage, r.PauseImage = r.Registry.Ref("cribench/sleeper:1"), r.Registry.Ref("cribench/pause:1")
	return nil
}
