package e2e

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

const sampleReport = `[{"SuiteSucceeded": false, "SpecialSuiteFailureReasons": [], "SpecReports": [
 {"ContainerHierarchyTexts": null, "LeafNodeType": "BeforeSuite", "LeafNodeText": "", "State": "passed"},
 {"ContainerHierarchyTexts": ["[k8s.io] Runtime info", "runtime should support returning runtime info"],
  "LeafNodeType": "It", "LeafNodeText": "runtime should return version info [Conformance]", "State": "passed"},
 {"ContainerHierarchyTexts": ["[k8s.io] Image Manager"], "LeafNodeType": "It",
  "LeafNodeText": "public image with digest should be pulled and removed [Conformance]", "State": "failed",
  "Failure": {"Message": "failed to pull image:\n  not found"}},
 {"ContainerHierarchyTexts": ["[k8s.io] Streaming"], "LeafNodeType": "It", "LeafNodeText": "runtime should support exec", "State": "timedout",
  "Failure": {"Message": "timed out"}},
 {"ContainerHierarchyTexts": ["[k8s.io] AppArmor"], "LeafNodeType": "It", "LeafNodeText": "should work", "State": "skipped"},
 {"ContainerHierarchyTexts": ["[k8s.io] PodSandbox"], "LeafNodeType": "AfterSuite", "LeafNodeText": "", "State": "failed",
  "Failure": {"Message": "cleanup failed\nmore"}}
]}]`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseReport(t *testing.T) {
	s, err := ParseReport(writeFile(t, "report.json", sampleReport))
	if err != nil {
		t.Fatal(err)
	}
	wantFailed := []string{
		"[k8s.io] Image Manager public image with digest should be pulled and removed [Conformance]",
		"[k8s.io] Streaming runtime should support exec",
	}
	if !reflect.DeepEqual(s.Failed, wantFailed) {
		t.Errorf("failed = %q, want %q", s.Failed, wantFailed)
	}
	if want := []string{"[k8s.io] Runtime info runtime should support returning runtime info runtime should return version info [Conformance]"}; !reflect.DeepEqual(s.Passed, want) {
		t.Errorf("passed = %q, want %q", s.Passed, want)
	}
	if len(s.Skipped) != 1 {
		t.Errorf("skipped = %q, want 1", s.Skipped)
	}
	if got := s.String(); got != "critest: 1 passed, 2 failed, 1 skipped" {
		t.Errorf("String() = %q", got)
	}
	if len(s.SuiteProblems) != 1 || !strings.Contains(s.SuiteProblems[0], "AfterSuite failed: cleanup failed") {
		t.Errorf("suite problems = %q", s.SuiteProblems)
	}
	if got := Brief(s.Failures[wantFailed[0]]); got != "failed: failed to pull image: not found" {
		t.Errorf("Brief(failure) = %q", got)
	}
}

func TestParseReportErrors(t *testing.T) {
	if _, err := ParseReport(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing report: no error")
	}
	if _, err := ParseReport(writeFile(t, "bad.json", "{not json")); err == nil {
		t.Error("malformed report: no error")
	}
}

func TestExpectedRoundTripAndCompare(t *testing.T) {
	path := writeFile(t, "expected.txt", "# comment\n\n[k8s.io] A fails\n  [k8s.io] B fails  \n[k8s.io] C not run\n")
	expected, err := ReadExpected(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(expected) != 3 || !expected["[k8s.io] B fails"] {
		t.Fatalf("ReadExpected = %v", expected)
	}
	run := Summary{
		Passed: []string{"[k8s.io] B fails", "[k8s.io] D"},
		Failed: []string{"[k8s.io] A fails", "[k8s.io] E new"},
	}
	c := Compare(run, expected)
	want := Comparison{
		NewFailures: []string{"[k8s.io] E new"},
		NowPassing:  []string{"[k8s.io] B fails"},
		NotRun:      []string{"[k8s.io] C not run"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Compare = %+v, want %+v", c, want)
	}
	if c.OK() {
		t.Error("OK() with differences")
	}
	if !Compare(Summary{Failed: []string{"[k8s.io] A fails"}}, expected).OK() {
		t.Error("matching run not OK")
	}

	if err := WriteExpected(path, []string{"header"}, run); err != nil {
		t.Fatal(err)
	}
	again, err := ReadExpected(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, map[string]bool{"[k8s.io] A fails": true, "[k8s.io] E new": true}) {
		t.Errorf("after WriteExpected: %v", again)
	}
	if missing, err := ReadExpected(filepath.Join(t.TempDir(), "none")); err != nil || len(missing) != 0 {
		t.Errorf("missing list: %v, %v", missing, err)
	}
}

func TestShimConfigTOML(t *testing.T) {
	cfg := ShimConfig{
		RootDir: "/tmp/x/root", StateDir: "/tmp/x/state", Socket: "/tmp/x/state/crishim.sock", LogLevel: "debug",
		MirrorURL: "http://127.0.0.1:5000", CgroupParent: "/crishim-e2e-1", CNIConfDir: "/tmp/x/cni",
	}
	var got struct {
		RootDir  string `toml:"root_dir"`
		StateDir string `toml:"state_dir"`
		Socket   string `toml:"socket"`
		LogLevel string `toml:"log_level"`
		Images   struct {
			Registries map[string]struct {
				Mirrors []string `toml:"mirrors"`
			} `toml:"registries"`
		} `toml:"images"`
		Runtime struct {
			CgroupParent string `toml:"cgroup_parent"`
		} `toml:"runtime"`
		CNI struct {
			ConfDir string `toml:"conf_dir"`
		} `toml:"cni"`
	}
	dec := toml.NewDecoder(strings.NewReader(cfg.TOML())).DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v in:\n%s", err, cfg.TOML())
	}
	if got.Socket != cfg.Socket || got.Runtime.CgroupParent != cfg.CgroupParent || got.CNI.ConfDir != cfg.CNIConfDir {
		t.Errorf("decoded %+v", got)
	}
	for _, r := range []string{"registry.k8s.io", "gcr.io"} {
		if m := got.Images.Registries[r].Mirrors; len(m) != 1 || m[0] != cfg.MirrorURL {
			t.Errorf("mirrors of %s = %v", r, m)
		}
	}

	cfg.Known = map[string]bool{"cni": true, "cni.conf_dir": true}
	out := cfg.TOML()
	if strings.Contains(out, "[images") || strings.Contains(out, "[runtime]") || !strings.Contains(out, "conf_dir") {
		t.Errorf("with Known=%v:\n%s", cfg.Known, out)
	}
	cfg.Known["sandbox.cgroup_parent"] = true
	if out := cfg.TOML(); !strings.Contains(out, "[sandbox]\ncgroup_parent = \"/crishim-e2e-1\"\n") {
		t.Errorf("with sandbox.cgroup_parent known:\n%s", out)
	}
}

func TestContainerdConfigWrite(t *testing.T) {
	dir := t.TempDir()
	cfg := ContainerdConfig{Dir: dir, Socket: dir + "/c.sock", MirrorURL: "http://127.0.0.1:1", Bridge: "e2e1", Subnet: "10.200.1.0/24", CNIBinDir: "/usr/lib/cni"}
	path, err := cfg.Write()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := toml.Unmarshal(data, &tree); err != nil {
		t.Fatalf("%v in:\n%s", err, data)
	}
	cri := tree["plugins"].(map[string]any)["io.containerd.grpc.v1.cri"].(map[string]any)
	mirrors := cri["registry"].(map[string]any)["mirrors"].(map[string]any)
	if ep := mirrors["gcr.io"].(map[string]any)["endpoint"].([]any); len(ep) != 1 || ep[0] != cfg.MirrorURL {
		t.Errorf("gcr.io mirror = %v", ep)
	}
	if _, err := os.Stat(filepath.Join(dir, "cni", "10-e2e.conflist")); err != nil {
		t.Error(err)
	}
}

func TestDaemonKeys(t *testing.T) {
	script := writeFile(t, "fake-shim", "#!/bin/sh\n[ \"$1 $2\" = 'config default' ] || exit 3\n"+
		"printf 'root_dir = \"/x\"\\n[cni]\\nconf_dir = \"/c\"\\n[[sandbox.runtime_handlers]]\\nname = \"runc\"\\n'\n")
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	keys, err := DaemonKeys(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root_dir", "cni", "cni.conf_dir", "sandbox", "sandbox.runtime_handlers"} {
		if !keys[k] {
			t.Errorf("key %s missing from %v", k, keys)
		}
	}
	if keys["images"] {
		t.Errorf("unexpected key images in %v", keys)
	}
	if _, err := DaemonKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing binary: no error")
	}
}
