// Package install tests hack/install.sh (make install / make uninstall) and the systemd unit it
// writes: a staged DESTDIR install, `systemd-analyze verify` of the unit, and, as root, the
// daemon started by the unit's own ExecStart line, reached over its socket, then uninstalled.
package install

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin holds shim and crishim-monitor built once for the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crishim-install-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range map[string]string{"shim": "./cmd/shim", "crishim-monitor": "./cmd/crishim-monitor"} {
			cmd := exec.Command("go", "build", "-tags", "seccomp", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
				return 1
			}
		}
		bin = dir
		return m.Run()
	}()
	os.Exit(code)
}

func repoRoot() string {
	d, _ := filepath.Abs("../..")
	return d
}

// layout is where one install puts things.
type layout struct {
	destdir, prefix, sysconfdir string
}

func (l layout) bin(name string) string { return filepath.Join(l.destdir, l.prefix, "bin", name) }
func (l layout) conf() string {
	return filepath.Join(l.destdir, l.sysconfdir, "crishim", "config.toml")
}
func (l layout) unit() string {
	return filepath.Join(l.destdir, l.sysconfdir, "systemd", "system", "crishim.service")
}

// run runs hack/install.sh ACTION with the layout and extra environment.
func (l layout) run(t *testing.T, action string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "hack", "install.sh"), action)
	cmd.Env = append(os.Environ(), "OUT="+bin, "DESTDIR="+l.destdir, "PREFIX="+l.prefix, "SYSCONFDIR="+l.sysconfdir)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l layout) mustRun(t *testing.T, action string, env ...string) string {
	t.Helper()
	out, err := l.run(t, action, env...)
	if err != nil {
		t.Fatalf("install.sh %s: %v\n%s", action, err, out)
	}
	return out
}

// files lists the regular files and symlinks under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func defaultConfig(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "shim"), "config", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInstallDestdirIdempotent(t *testing.T) {
	l := layout{destdir: t.TempDir(), prefix: "/usr/local", sysconfdir: "/etc"}
	out := l.mustRun(t, "install")
	if !strings.Contains(out, "CNI plugins not checked") {
		t.Errorf("a DESTDIR install must not touch this machine's CNI plugins:\n%s", out)
	}
	for _, b := range []string{"shim", "crishim-monitor"} {
		fi, err := os.Stat(l.bin(b))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v %v", b, fi, err)
		}
	}
	if conf, _ := os.ReadFile(l.conf()); !bytes.Equal(conf, defaultConfig(t)) {
		t.Errorf("config.toml is not `shim config default`:\n%s", conf)
	}
	unit, _ := os.ReadFile(l.unit())
	for _, want := range []string{"\nExecStart=/usr/local/bin/shim daemon --config /etc/crishim/config.toml\n",
		"\nType=notify\n", "\nDelegate=yes\n", "\nKillMode=process\n", "\nRestart=always\n", "\nLimitNOFILE=", "\nOOMScoreAdjust="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	if strings.Contains(string(unit), "@") {
		t.Errorf("unit has an unreplaced placeholder:\n%s", unit)
	}

	// An admin's edit survives a second install; the rest is the same.
	edited := append(defaultConfig(t), []byte("\n# edited\n")...)
	os.WriteFile(l.conf(), edited, 0o644)
	before := files(t, l.destdir)
	out = l.mustRun(t, "install")
	if got, _ := os.ReadFile(l.conf()); !bytes.Equal(got, edited) || !strings.Contains(out, "kept the existing") {
		t.Errorf("second install rewrote the edited config:\n%s", out)
	}
	if after := files(t, l.destdir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("second install changed the file set: %v → %v", before, after)
	}

	// Uninstall keeps the edited config, removes the rest; twice is fine.
	for range 2 {
		l.mustRun(t, "uninstall")
		if got := files(t, l.destdir); len(got) != 1 || got[0] != "etc/crishim/config.toml" {
			t.Errorf("after uninstall with an edited config: %v", got)
		}
	}
	// An unedited config goes with the rest.
	l.mustRun(t, "install")
	os.WriteFile(l.conf(), defaultConfig(t), 0o644)
	l.mustRun(t, "uninstall")
	if got := files(t, l.destdir); len(got) != 0 {
		t.Errorf("uninstall left %v", got)
	}
	if _, err := os.Stat(filepath.Dir(l.conf())); err == nil {
		t.Error("uninstall left the empty crishim config dir")
	}
}

func TestInstallRefusesWithoutBinaries(t *testing.T) {
	l := layout{destdir: t.TempDir(), prefix: "/usr/local", sysconfdir: "/etc"}
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "hack", "install.sh"), "install")
	cmd.Env = append(os.Environ(), "OUT="+t.TempDir(), "DESTDIR="+l.destdir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run make build first") {
		t.Errorf("install without built binaries: %v\n%s", err, out)
	}
	if got := files(t, l.destdir); len(got) != 0 {
		t.Errorf("a refused install wrote %v", got)
	}
}

// verifyUnit runs systemd-analyze verify; it exits 0 on unknown keys and bad values and
// only prints them, so any output is a failure too.
func verifyUnit(t *testing.T, path string) (string, error) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("systemd-analyze missing (Debian package systemd; hack/install-deps.sh installs it as root)")
		}
		t.Fatal("systemd-analyze missing: run CRISHIM_E2E=1 hack/install-deps.sh (Debian package systemd)")
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err == nil && len(bytes.TrimSpace(out)) > 0 {
		err = fmt.Errorf("systemd-analyze verify printed findings")
	}
	return string(out), err
}

func TestUnitVerifies(t *testing.T) {
	// No DESTDIR: the unit's ExecStart must name an executable that exists for verify.
	root := t.TempDir()
	l := layout{prefix: filepath.Join(root, "usr"), sysconfdir: filepath.Join(root, "etc")}
	l.mustRun(t, "install")
	if out, err := verifyUnit(t, l.unit()); err != nil {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", l.unit(), err, out)
	}
	// The check can fail: a misspelt key and a missing executable are caught.
	unit, _ := os.ReadFile(l.unit())
	for _, bad := range [][2]string{{"Delegate=yes", "Delegat=yes"}, {"KillMode=process", "KillMode=proces"},
		{filepath.Join(l.prefix, "bin", "shim"), filepath.Join(l.prefix, "bin", "nope")}} {
		p := filepath.Join(root, "bad.service")
		os.WriteFile(p, []byte(strings.Replace(string(unit), bad[0], bad[1], 1)), 0o644)
		if out, err := verifyUnit(t, p); err == nil {
			t.Errorf("verify accepted %s → %s:\n%s", bad[0], bad[1], out)
		}
	}
	l.mustRun(t, "uninstall")
	if got := files(t, root); len(got) != 1 || got[0] != "bad.service" {
		t.Errorf("uninstall left %v", got)
	}
}
