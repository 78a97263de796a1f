package cni

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testPluginName is the name under which the test binary acts as a chained CNI plugin.
const testPluginName = "crishim-test-flaky"

// TestMain lets the test binary act as a CNI plugin when called through a symlink named
// testPluginName or "no-such-plugin".
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case testPluginName, "no-such-plugin":
		os.Exit(runTestPlugin())
	}
	os.Exit(m.Run())
}

// installTestPlugin links the test binary into dir under name.
func installTestPlugin(t *testing.T, dir, name string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// runTestPlugin is a chained plugin: ADD passes prevResult through, DEL fails while the file
// named by the config's "failFile" exists.
func runTestPlugin() int {
	in, _ := io.ReadAll(os.Stdin)
	var conf map[string]any
	json.Unmarshal(in, &conf)
	fail := func(msg string) int {
		fmt.Printf(`{"cniVersion":"1.0.0","code":999,"msg":%q}`, msg)
		return 1
	}
	switch os.Getenv("CNI_COMMAND") {
	case "VERSION":
		fmt.Print(`{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}`)
	case "ADD":
		prev, ok := conf["prevResult"].(map[string]any)
		if !ok {
			return fail("no prevResult")
		}
		prev["cniVersion"] = conf["cniVersion"]
		json.NewEncoder(os.Stdout).Encode(prev)
	case "DEL":
		if f, ok := conf["failFile"].(string); ok {
			if _, err := os.Stat(f); err == nil {
				return fail("injected DEL failure")
			}
		}
	}
	return 0
}
