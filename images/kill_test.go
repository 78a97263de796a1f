package images

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Environment of the helper process of TestKillMidPull.
const (
	envKillRoot = "IMAGES_TEST_KILL_ROOT"
	envKillReg  = "IMAGES_TEST_KILL_REGISTRY"
)

func TestMain(m *testing.M) {
	if root := os.Getenv(envKillRoot); root != "" {
		flag.Parse()
		os.Exit(pullHelper(root, os.Getenv(envKillReg)))
	}
	os.Exit(m.Run())
}

// pullHelper pulls registry.test/big:1 into root; it is killed with SIGKILL mid-pull.
func pullHelper(root, host string) int {
	s := newService(&testing.T{}, root, &testRegistry{host: host})
	_, err := s.Pull(context.Background(), "registry.test/big:1", Auth{})
	fmt.Fprintln(os.Stderr, "helper pull returned:", err)
	return 1
}

// TestKillMidPull kills a process with SIGKILL while it pulls (one layer complete and
// applied, one half-downloaded) and checks that the next start cleans the store and a new
// pull completes.
func TestKillMidPull(t *testing.T) {
	tr := newRegistry(t)
	small := mkLayer(t, compression.GZip, tent{name: "small", body: "small"})
	big := mkLayer(t, compression.GZip, tent{name: "big", body: strings.Repeat("0123456789abcdef", 1<<16)})
	tr.push(t, "big:1", mkImage(t, "amd64", v1.Config{}, small, big))
	bd := digestOf(t, big)
	release := make(chan struct{})
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+bd) && r.Method == http.MethodGet {
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 5000)) // half a blob, then silence
			w.(http.Flusher).Flush()
			<-release
			return true
		}
		return false
	})
	defer close(release)
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), envKillRoot+"="+root, envKillReg+"="+tr.host)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the small layer is applied and the big blob is half-written.
	deadline := time.Now().Add(30 * time.Second)
	for {
		chains, _ := os.ReadDir(filepath.Join(root, "chains"))
		ingest, _ := os.ReadDir(filepath.Join(root, "ingest"))
		if len(chains) == 1 && len(ingest) == 1 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("helper never reached mid-pull: chains %v ingest %v", chains, ingest)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	tr.setHook(nil)
	s := newService(t, root, tr)
	for _, d := range []string{"ingest", "staging", "records", "chains", "snapshots", "usage", "blobs/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s not cleaned after the crash: %v", d, ents)
		}
	}
	img, err := s.Pull(context.Background(), "registry.test/big:1", Auth{})
	if err != nil {
		t.Fatal("pull after the crash:", err)
	}
	if _, err := s.PrepareRootfs(context.Background(), "c", img.ID); err != nil {
		t.Fatal(err)
	}
}
