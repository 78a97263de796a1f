// Command fixture-registry builds the critest fixture images (test/e2e/images) and serves them
// on a local address until SIGINT or SIGTERM. Point a runtime's registry mirrors for
// registry.k8s.io, gcr.io (and public.ecr.aws for the image benchmarks) at the printed URL.
//
//	go run ./test/e2e/cmd/fixture-registry -addr 127.0.0.1:5000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/crishim/crishim/test/e2e/images"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	out := flag.String("output", "", "directory for build outputs (default REPO/_output)")
	verbose := flag.Bool("v", false, "log every registry request to stderr")
	flag.Parse()
	if err := run(*addr, *out, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "fixture-registry:", err)
		os.Exit(1)
	}
}

func run(addr, out string, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := images.RepoRoot()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "_output")
	}
	in, err := images.Prepare(ctx, root, out, os.Stderr)
	if err != nil {
		return err
	}
	repos, err := images.Catalog(in)
	if err != nil {
		return err
	}
	var requestLog io.Writer
	if verbose {
		requestLog = os.Stderr
	}
	reg, err := images.Serve(ctx, addr, repos, requestLog)
	if err != nil {
		return err
	}
	defer reg.Close()
	var refs []string
	for _, r := range repos {
		for t := range r.Tags {
			refs = append(refs, r.Reference(t))
		}
	}
	sort.Strings(refs)
	for _, ref := range refs {
		fmt.Println(ref)
	}
	fmt.Printf("fixture-registry: serving %d references at %s\n", len(refs), reg.URL())
	<-ctx.Done()
	return nil
}
