package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crishim/crishim/test/e2e/images"
)

var updateExpected = flag.Bool("update-expected", false,
	"rewrite the expected-failure list from this run (also: E2E_UPDATE_EXPECTED=1)")

// Environment variables understood by TestCritest.
const (
	envShimBin      = "SHIM_BIN"            // shim binary to use instead of building ./cmd/shim
	envEndpoint     = "CRI_ENDPOINT"        // test this running endpoint; no daemon is started
	envRuntime      = "E2E_RUNTIME"         // "containerd": start a private containerd instead
	envRegistryAddr = "E2E_REGISTRY_ADDR"   // fixture registry address (default 127.0.0.1:0)
	envExpected     = "E2E_EXPECTED"        // expected-failure list for CRI_ENDPOINT runs
	envFocus        = "E2E_FOCUS"           // --ginkgo.focus
	envSkip         = "E2E_SKIP"            // --ginkgo.skip
	envUpdate       = "E2E_UPDATE_EXPECTED" // 1: like -update-expected
	envVerbose      = "E2E_VERBOSE"         // 1: critest output to stdout too
)

// target is the runtime under test.
type target struct {
	name     string
	endpoint string
	expected string // expected-failure list; "" = no comparison
	daemon   *Daemon
	scope    LeakScope
	bridge   string // CNI bridge of this run, deleted after the leak check
}

// TestCritest runs critest against the shim daemon (or CRI_ENDPOINT, or a private containerd
// with E2E_RUNTIME=containerd), fully offline, and compares the failures with the committed
// expected-failure list. Then it checks that nothing was left behind.
func TestCritest(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: critest creates pods and containers")
	}
	if testing.Short() {
		t.Skip("-short: critest takes minutes")
	}
	root, err := images.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "_output")
	workDir := filepath.Join(out, "e2e")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := testContext(t)
	defer cancel()

	buildLog := &testWriter{t: t, prefix: "build: "}
	tools, err := BuildTools(ctx, root, filepath.Join(out, "bin"), buildLog)
	if err != nil {
		t.Fatal(err)
	}
	mirror := startRegistry(ctx, t, root, out)
	tg := startTarget(ctx, t, root, workDir, mirror)

	suiteTimeout := 50 * time.Minute
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-time.Minute < suiteTimeout {
		suiteTimeout = time.Until(dl) - time.Minute
	}
	logf, err := os.Create(filepath.Join(workDir, "critest.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	var output io.Writer = logf
	if os.Getenv(envVerbose) == "1" {
		output = io.MultiWriter(logf, os.Stdout)
	}
	run := CritestRun{
		Critest: tools.Critest, Endpoint: tg.endpoint, WorkDir: workDir, Timeout: suiteTimeout,
		Focus: os.Getenv(envFocus), Skip: os.Getenv(envSkip), Output: output,
	}
	t.Logf("running critest against %s (%s); output in %s", tg.name, tg.endpoint, logf.Name())
	start := time.Now()
	if err := run.Run(ctx); err != nil {
		t.Fatalf("%v; end of critest output:\n%s", err, LogTail(logf.Name(), 30))
	}
	summary, err := ParseReport(run.ReportPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (critest took %v)", summary, time.Since(start).Round(time.Second))
	checkSummary(t, tg, run, summary)
}

// testContext returns a context ending a few minutes before the test's deadline, leaving time
// to stop the daemon and clean up.
func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	if dl, ok := t.Deadline(); ok {
		margin := 3 * time.Minute
		if time.Until(dl) < 2*margin {
			margin = time.Until(dl) / 4
		}
		return context.WithDeadline(context.Background(), dl.Add(-margin))
	}
	return context.WithCancel(context.Background())
}

// startRegistry builds the fixture images and serves them; it returns the registry URL.
func startRegistry(ctx context.Context, t *testing.T, root, out string) string {
	addr := os.Getenv(envRegistryAddr)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	in, err := images.Prepare(ctx, root, out, &testWriter{t: t, prefix: "images: "})
	if err != nil {
		t.Fatal(err)
	}
	repos, err := images.Catalog(in)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := images.Serve(ctx, addr, repos, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	t.Logf("fixture registry: %d repositories at %s; %s", len(repos), reg.URL(), busyboxDigest(repos))
	return reg.URL()
}

// busyboxDigest names the digest of the default test image: it only changes with the inputs.
func busyboxDigest(repos []images.Repository) string {
	for _, r := range repos {
		if idx, ok := r.Tags["1.29-2"]; ok {
			if d, err := idx.Digest(); err == nil {
				return r.Reference("1.29-2") + "@" + d.String()
			}
		}
	}
	return "no busybox image"
}

// startTarget starts the runtime under test and registers its stop, the leak check and the
// cleanup.
func startTarget(ctx context.Context, t *testing.T, root, workDir, mirror string) *target {
	if ep := os.Getenv(envEndpoint); ep != "" {
		return &target{name: "external endpoint", endpoint: ep, expected: os.Getenv(envExpected)}
	}
	dir := t.TempDir()
	// The daemon's dirs must be traversable (0711, like /var/lib/containerd) by the mapped root
	// of user-namespaced containers; t.TempDir makes them 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	before := TakeSnapshot()
	var tg *target
	switch rt := os.Getenv(envRuntime); rt {
	case "containerd":
		tg = startContainerdTarget(ctx, t, root, dir, workDir, mirror)
	case "", "shim":
		tg = startShimTarget(ctx, t, root, dir, workDir, mirror)
	default:
		t.Fatalf("%s=%q: want shim or containerd", envRuntime, rt)
	}
	tg.scope.Before = before
	tg.scope.Dirs = append(tg.scope.Dirs, dir)
	tg.scope.DaemonCgroup = tg.daemon.Cgroup
	t.Cleanup(func() { stopAndCheck(t, tg) })
	return tg
}

func startShimTarget(ctx context.Context, t *testing.T, root, dir, workDir, mirror string) *target {
	shim := os.Getenv(envShimBin)
	if shim == "" {
		if _, err := os.Stat(filepath.Join(root, "cmd", "shim")); err != nil {
			t.Skipf("no shim binary: ./cmd/shim does not exist yet and %s is not set", envShimBin)
		}
		shim = filepath.Join(root, "_output", "shim")
		if err := BuildShim(ctx, root, shim, &testWriter{t: t, prefix: "build: "}); err != nil {
			t.Fatal(err)
		}
	}
	shim, err := filepath.Abs(shim)
	if err != nil {
		t.Fatal(err)
	}
	known, err := DaemonKeys(shim)
	if err != nil {
		t.Fatal(err)
	}
	sfx := RandomSuffix(3)
	cfg := ShimConfig{
		RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "state", "crishim.sock"), LogLevel: "debug",
		MirrorURL: mirror, CgroupParent: "/crishim-e2e-" + sfx,
		CNIConfDir: filepath.Join(dir, "cni"), CNIBridge: "e2e" + sfx, CNISubnet: randomSubnet(sfx),
		Known: known,
	}
	for _, k := range []string{"images", "cni.conf_dir", "cni.bridge_name", "cni.default_subnet"} {
		if !cfg.Has(k) {
			t.Logf("note: the daemon's configuration has no %s yet: left out of the test config", k)
		}
	}
	if cfg.CgroupParentKey() == "" {
		t.Logf("note: the daemon's configuration has no runtime.cgroup_parent yet: no cgroup leak check")
	}
	logPath := filepath.Join(workDir, "shim.log")
	_ = os.Remove(logPath)
	d, err := StartShim(ctx, shim, dir, logPath, cfg)
	if err != nil {
		t.Fatalf("start the shim daemon with config:\n%s\n%v", cfg.TOML(), err)
	}
	t.Logf("shim daemon pid %d, log %s, config:\n%s", d.Pid(), logPath, cfg.TOML())
	tg := &target{
		name: "shim", endpoint: "unix://" + cfg.Socket, daemon: d,
		expected: filepath.Join(root, "test", "e2e", "expected-failures.txt"),
		scope:    LeakScope{Executables: []string{shim}},
	}
	if cfg.CgroupParentKey() != "" {
		tg.scope.CgroupParent = cfg.CgroupParent
	}
	if cfg.Has("cni.bridge_name") {
		tg.bridge = cfg.CNIBridge
	}
	return tg
}

// randomSubnet returns a /24 in 10.200.0.0-10.249.255.0 derived from a hex suffix, unlikely to
// overlap the networks of concurrent tests.
func randomSubnet(hexSuffix string) string {
	var a, b int
	_, _ = fmt.Sscanf(hexSuffix[:4], "%02x%02x", &a, &b)
	return fmt.Sprintf("10.%d.%d.0/24", 200+a%50, b)
}

func startContainerdTarget(ctx context.Context, t *testing.T, root, dir, workDir, mirror string) *target {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("E2E_RUNTIME=containerd: containerd is not installed")
	}
	sfx := RandomSuffix(3)
	cfg := ContainerdConfig{
		Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), MirrorURL: mirror,
		Bridge: "e2e" + sfx, Subnet: randomSubnet(sfx),
		CNIBinDir: "/usr/lib/cni",
	}
	if v := os.Getenv("CNI_BIN_DIR"); v != "" {
		cfg.CNIBinDir = v
	}
	logPath := filepath.Join(workDir, "containerd.log")
	_ = os.Remove(logPath)
	d, err := StartContainerd(ctx, bin, logPath, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containerd pid %d, log %s, bridge %s %s", d.Pid(), logPath, cfg.Bridge, cfg.Subnet)
	return &target{
		name: "containerd", endpoint: "unix://" + cfg.Socket, daemon: d,
		expected: filepath.Join(root, "test", "e2e", "expected-failures-containerd.txt"),
		bridge:   cfg.Bridge,
	}
}

// stopAndCheck stops the daemon, runs the leak check and cleans up what leaked.
func stopAndCheck(t *testing.T, tg *target) {
	if err := tg.daemon.Stop(30 * time.Second); err != nil {
		t.Errorf("stop %s: %v", tg.name, err)
	}
	if t.Failed() {
		t.Logf("end of %s:\n%s", tg.daemon.LogPath, LogTail(tg.daemon.LogPath, 60))
	}
	leaks := FindLeaks(tg.scope)
	var attributed []string
	for _, l := range leaks {
		if l.Attributed || os.Getenv("E2E_LEAK_STRICT") == "1" {
			attributed = append(attributed, l.String())
		} else {
			t.Logf("leak check: %s: not attributable to the %s (a concurrent test?), ignored", l, tg.name)
		}
	}
	if len(attributed) > 0 {
		t.Errorf("leak check: the %s left behind:\n  %s", tg.name, strings.Join(attributed, "\n  "))
	}
	if err := CleanLeaks(leaks); err != nil {
		t.Errorf("leak cleanup: %v", err)
	}
	for _, dir := range cgroupDirs(tg.scope.CgroupParent) {
		if err := RemoveCgroup(dir); err != nil {
			t.Errorf("remove cgroup parent: %v", err)
		}
	}
	tg.daemon.RemoveCgroup()
	if tg.bridge != "" {
		if err := DeleteLink(tg.bridge); err != nil {
			t.Errorf("delete bridge %s: %v", tg.bridge, err)
		}
	}
}

// checkSummary prints the failures and compares them with the expected-failure list.
func checkSummary(t *testing.T, tg *target, run CritestRun, s Summary) {
	for _, p := range s.SuiteProblems {
		t.Errorf("critest suite problem: %s", p)
	}
	for _, name := range s.Failed {
		t.Logf("FAILED %s\n        %s", name, Brief(s.Failures[name]))
	}
	if tg.expected == "" {
		t.Logf("no expected-failure list for %s (set %s to compare)", tg.name, envExpected)
		return
	}
	if *updateExpected || os.Getenv(envUpdate) == "1" {
		if run.Focus != "" || run.Skip != "" {
			t.Fatalf("refusing to rewrite %s from a focused run", tg.expected)
		}
		regen := ""
		if rt := os.Getenv(envRuntime); rt != "" {
			regen = envRuntime + "=" + rt + " "
		}
		header := []string{
			fmt.Sprintf("critest specs (cri-tools v1.34.0) that still fail against the %s.", tg.name),
			"One full spec name per line. Regenerate: " + regen + "E2E_UPDATE_EXPECTED=1 go test ./test/e2e -run TestCritest -v -timeout 60m",
			"The list only shrinks: a listed spec that passes fails the run.",
		}
		if err := WriteExpected(tg.expected, header, s); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s with %d specs", tg.expected, len(s.Failed))
		return
	}
	expected, err := ReadExpected(tg.expected)
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(s, expected)
	for _, name := range c.NewFailures {
		t.Errorf("new failure (not in %s): %s\n        %s", filepath.Base(tg.expected), name, Brief(s.Failures[name]))
	}
	for _, name := range c.NowPassing {
		t.Errorf("now passing, remove it from %s: %s", filepath.Base(tg.expected), name)
	}
	if len(c.NotRun) > 0 && run.Focus == "" && run.Skip == "" {
		t.Logf("%d listed specs did not run: %s", len(c.NotRun), strings.Join(c.NotRun, "; "))
	}
}

// testWriter forwards build output to the test log, line by line.
type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}
