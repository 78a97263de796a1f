package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

var testHost = hostInfo{
	Caps:        append(slices.Clone(defaultCaps), "CAP_SYS_ADMIN", "CAP_NET_ADMIN"),
	OOMScoreAdj: 0, RestrictOOM: true, NoFileHard: 4096,
}

func baseSpec() ContainerSpec {
	return ContainerSpec{
		ID: "c1", PodID: "p1", Name: "n", Image: Image{ID: "sha256:x"},
		Command: []string{"/bin/true"},
		Pod: PodSpec{NetNSPath: "/run/ns/net", IPCNSPath: "/run/ns/ipc", UTSNSPath: "/run/ns/uts",
			PIDMode: PIDModeContainer, ShmPath: "/run/pod/shm", HostsPath: "/run/pod/hosts",
			ResolvPath: "/run/pod/resolv", HostnamePath: "/run/pod/hostname"},
	}
}

func build(t *testing.T, cs ContainerSpec, h hostInfo) *specs.Spec {
	t.Helper()
	s, err := buildSpec(specInput{Spec: cs, RootfsPath: "/rootfs", Args: cs.Command, Cwd: "/",
		CgroupsPath: "/pod/" + cs.ID, Host: h, PIDTargetNS: "/proc/42/ns/pid"})
	if err != nil {
		t.Fatalf("buildSpec: %v", err)
	}
	return s
}

func nsMap(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	out := map[specs.LinuxNamespaceType]string{}
	for _, n := range s.Linux.Namespaces {
		out[n.Type] = n.Path
	}
	return out
}

func TestNamespacesPerMode(t *testing.T) {
	absent := "<absent>"
	for _, tc := range []struct {
		name          string
		mut           func(*PodSpec)
		net, uts, pid string
	}{
		{"container pid", func(p *PodSpec) {}, "/run/ns/net", "/run/ns/uts", ""},
		{"pod pid", func(p *PodSpec) { p.PIDMode, p.PIDNSPath = PIDModePod, "/proc/7/ns/pid" }, "/run/ns/net", "/run/ns/uts", "/proc/7/ns/pid"},
		{"node pid", func(p *PodSpec) { p.PIDMode = PIDModeNode }, "/run/ns/net", "/run/ns/uts", absent},
		{"host pid flag", func(p *PodSpec) { p.HostPID = true }, "/run/ns/net", "/run/ns/uts", absent},
		{"target pid", func(p *PodSpec) { p.PIDMode, p.PIDTarget = PIDModeTarget, "c0" }, "/run/ns/net", "/run/ns/uts", "/proc/42/ns/pid"},
		{"host network", func(p *PodSpec) { p.HostNetwork = true }, absent, absent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := baseSpec()
			tc.mut(&cs.Pod)
			ns := nsMap(build(t, cs, testHost))
			for typ, want := range map[specs.LinuxNamespaceType]string{
				specs.NetworkNamespace: tc.net, specs.UTSNamespace: tc.uts, specs.PIDNamespace: tc.pid,
				specs.MountNamespace: "", specs.IPCNamespace: "/run/ns/ipc",
			} {
				got, ok := ns[typ]
				if want == absent {
					if ok {
						t.Errorf("%s namespace present (%q), want the host's", typ, got)
					}
					continue
				}
				if !ok || got != want {
					t.Errorf("%s namespace = %q (present %v), want %q", typ, got, ok, want)
				}
			}
		})
	}
	cs := baseSpec()
	cs.Pod.NetNSPath = ""
	if _, err := buildSpec(specInput{Spec: cs, Host: testHost}); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Errorf("missing netns path: %v", err)
	}
	cs = baseSpec()
	cs.Pod.PIDMode = PIDModePod
	if _, err := buildSpec(specInput{Spec: cs, Host: testHost}); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Errorf("pod pid mode without path: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	with := func(extra ...string) []string { return append(slices.Clone(defaultCaps), extra...) }
	without := func(c string) []string {
		return slices.DeleteFunc(slices.Clone(defaultCaps), func(x string) bool { return x == c })
	}
	for _, tc := range []struct {
		name string
		sec  Security
		want []string
		err  error
	}{
		{"default", Security{}, defaultCaps, nil},
		{"add", Security{CapAdd: []string{"NET_ADMIN"}}, with("CAP_NET_ADMIN"), nil},
		{"add lower", Security{CapAdd: []string{"cap_net_admin"}}, with("CAP_NET_ADMIN"), nil},
		{"drop", Security{CapDrop: []string{"NET_RAW"}}, without("CAP_NET_RAW"), nil},
		{"add all", Security{CapAdd: []string{"ALL"}}, with("CAP_SYS_ADMIN", "CAP_NET_ADMIN"), nil},
		{"drop all", Security{CapDrop: []string{"ALL"}}, nil, nil},
		{"drop all add one", Security{CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN"}}, []string{"CAP_CHOWN"}, nil},
		{"privileged", Security{Privileged: true}, testHost.Caps, nil},
		{"unknown", Security{CapAdd: []string{"BOGUS"}}, nil, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capabilitySet(tc.sec, testHost.Caps)
			if tc.err != nil {
				if !isKind(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("caps = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestMaskedPathsAndPrivileged(t *testing.T) {
	cs := baseSpec()
	s := build(t, cs, testHost)
	if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, defaultReadonlyPaths) {
		t.Errorf("default masked/readonly paths: %v %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	cs.Security.MaskedPaths, cs.Security.ReadonlyPaths = []string{}, []string{"/x"}
	s = build(t, cs, testHost)
	if len(s.Linux.MaskedPaths) != 0 || !slices.Equal(s.Linux.ReadonlyPaths, []string{"/x"}) {
		t.Errorf("overridden paths: %v %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	cs.Security = Security{Privileged: true, Seccomp: Seccomp{Type: SeccompRuntimeDefault}}
	s = build(t, cs, testHost)
	if len(s.Linux.MaskedPaths)+len(s.Linux.ReadonlyPaths) != 0 || s.Linux.Seccomp != nil {
		t.Errorf("privileged: masked %v readonly %v seccomp %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Linux.Seccomp != nil)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && slices.Contains(m.Options, "ro") {
			t.Errorf("privileged /sys is read-only")
		}
	}
	if s.Process.NoNewPrivileges {
		t.Errorf("privileged with no_new_privs")
	}
}

func TestOOMScoreAdjClamp(t *testing.T) {
	for _, tc := range []struct {
		daemon, req, want int
		restrict          bool
	}{
		{0, -500, 0, true}, {0, -500, -500, false}, {0, 500, 500, true}, {-100, -999, -100, true},
	} {
		cs := baseSpec()
		cs.Resources.OOMScoreAdj = int64(tc.req)
		h := testHost
		h.OOMScoreAdj, h.RestrictOOM = tc.daemon, tc.restrict
		if got := *build(t, cs, h).Process.OOMScoreAdj; got != tc.want {
			t.Errorf("daemon %d req %d restrict %v: got %d want %d", tc.daemon, tc.req, tc.restrict, got, tc.want)
		}
	}
}

func TestMounts(t *testing.T) {
	cs := baseSpec()
	cs.Mounts = []ContainerMount{
		{Source: "/h/b", Destination: "/a/b", Readonly: true},
		{Source: "/h/a", Destination: "/a", Propagation: PropagationHostToContainer},
		{Source: "/h/hosts", Destination: "/etc/hosts"},
		{Source: "/h/r", Destination: "/r", Readonly: true, RecursiveReadOnly: true},
	}
	s := build(t, cs, testHost)
	byDst := map[string]specs.Mount{}
	var order []string
	for _, m := range s.Mounts {
		if _, dup := byDst[m.Destination]; dup {
			t.Errorf("duplicate mount %s", m.Destination)
		}
		byDst[m.Destination] = m
		order = append(order, m.Destination)
	}
	if byDst["/etc/hosts"].Source != "/h/hosts" {
		t.Errorf("user /etc/hosts does not replace the pod's: %+v", byDst["/etc/hosts"])
	}
	if byDst["/dev/shm"].Source != "/run/pod/shm" || byDst["/etc/resolv.conf"].Source != "/run/pod/resolv" {
		t.Errorf("pod files: %+v %+v", byDst["/dev/shm"], byDst["/etc/resolv.conf"])
	}
	if slices.Index(order, "/a") > slices.Index(order, "/a/b") {
		t.Errorf("parent mounted after child: %v", order)
	}
	if !slices.Contains(byDst["/a"].Options, "rslave") || s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("propagation: %v root %q", byDst["/a"].Options, s.Linux.RootfsPropagation)
	}
	if !slices.Contains(byDst["/r"].Options, "rro") || !slices.Contains(byDst["/a/b"].Options, "ro") {
		t.Errorf("read-only options: %v %v", byDst["/r"].Options, byDst["/a/b"].Options)
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} {
		if _, ok := byDst[d]; !ok {
			t.Errorf("default mount %s missing", d)
		}
	}
}

func TestSeccomp(t *testing.T) {
	cs := baseSpec()
	if s := build(t, cs, testHost); s.Linux.Seccomp != nil {
		t.Errorf("unconfined has a filter")
	}
	cs.Security.Seccomp.Type = SeccompRuntimeDefault
	s := build(t, cs, testHost)
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatalf("runtime default: %+v", s.Linux.Seccomp)
	}
	allowed := map[string]bool{}
	for _, sc := range s.Linux.Seccomp.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
			for _, n := range sc.Names {
				allowed[n] = true
			}
		}
	}
	for _, n := range []string{"read", "write", "execve", "openat", "exit_group"} {
		if !allowed[n] {
			t.Errorf("%s not allowed by the default profile", n)
		}
	}
	for _, n := range []string{"mount", "reboot", "kexec_load", "init_module"} {
		if allowed[n] {
			t.Errorf("%s allowed without its capability", n)
		}
	}
	p := filepath.Join(t.TempDir(), "p.json")
	_ = os.WriteFile(p, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	cs.Security.Seccomp = Seccomp{Type: SeccompLocalhost, LocalhostPath: p}
	if s := build(t, cs, testHost); s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow {
		t.Errorf("localhost profile not loaded")
	}
	cs.Security.Seccomp.LocalhostPath = p + ".missing"
	if _, err := buildSpec(specInput{Spec: cs, Host: testHost}); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Errorf("missing profile: %v", err)
	}
}

func TestProcessMerge(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"c1"}, Env: []string{"A=1", "PATH=/img"}, WorkingDir: "/w"}
	for _, tc := range []struct {
		cmd, args, want []string
	}{
		{nil, nil, []string{"/ep", "c1"}},
		{nil, []string{"x"}, []string{"/ep", "x"}},
		{[]string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{[]string{"/bin/sh"}, []string{"-c", "true"}, []string{"/bin/sh", "-c", "true"}},
	} {
		got, err := processArgs(ContainerSpec{Command: tc.cmd, Args: tc.args, Image: Image{Config: img}})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("cmd %v args %v: got %v %v want %v", tc.cmd, tc.args, got, err, tc.want)
		}
	}
	if _, err := processArgs(ContainerSpec{}); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Errorf("no command: %v", err)
	}
	env := processEnv(ContainerSpec{Env: []string{"A=2", "B=3"}, Image: Image{Config: img}, Pod: PodSpec{Hostname: "h"}})
	if !slices.Equal(env, []string{"HOSTNAME=h", "A=2", "PATH=/img", "B=3"}) {
		t.Errorf("env = %v", env)
	}
	if env := processEnv(ContainerSpec{}); !slices.Equal(env, []string{defaultPath}) {
		t.Errorf("default env = %v", env)
	}
	if processCwd(ContainerSpec{Image: Image{Config: img}}) != "/w" || processCwd(ContainerSpec{}) != "/" {
		t.Errorf("cwd")
	}
	for in, want := range map[string]int{"SIGQUIT": 3, "quit": 3, "9": 9, "SIGWINCH": 28} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %v %v", in, got, err)
		}
	}
	if _, err := parseSignal("SIGNOPE"); !isKind(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad signal: %v", err)
	}
}

// Hugepage limits reach the OCI spec only when the host can enforce them (specInput.Hugetlb).
func TestHugepageLimitsInSpec(t *testing.T) {
	cs := baseSpec()
	cs.Resources.HugepageLimits = []HugepageLimit{{PageSize: "2MB", Limit: 0}, {PageSize: "1GB", Limit: 1 << 30}}
	in := specInput{Spec: cs, RootfsPath: "/rootfs", Args: cs.Command, Cwd: "/", CgroupsPath: "/pod/c1", Host: testHost}
	s, err := buildSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Linux.Resources.HugepageLimits; len(got) != 0 {
		t.Fatalf("hugepage limits without a hugetlb controller: %v", got)
	}
	in.Hugetlb = true
	if s, err = buildSpec(in); err != nil {
		t.Fatal(err)
	}
	want := []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}, {Pagesize: "1GB", Limit: 1 << 30}}
	if got := s.Linux.Resources.HugepageLimits; !reflect.DeepEqual(got, want) {
		t.Fatalf("hugepage limits with a hugetlb controller: %v, want %v", got, want)
	}
}

// TestSeccompLocalhostHostile: a Localhost profile path that is a FIFO, a device, a directory or
// a huge file fails CreateContainer at once with InvalidArgument (a FIFO used to block it
// forever, holding the container's name).
func TestSeccompLocalhostHostile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, maxSeccompProfileSize+1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", dir, huge} {
		cs := baseSpec()
		cs.Security.Seccomp = Seccomp{Type: SeccompLocalhost, LocalhostPath: p}
		done := make(chan error, 1)
		go func() {
			_, err := buildSpec(specInput{Spec: cs, Host: testHost})
			done <- err
		}()
		select {
		case err := <-done:
			if !isKind(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), p) {
				t.Errorf("profile %s: %v, want InvalidArgument naming it", p, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("profile %s: building the spec hangs", p)
		}
	}
}
