package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crishim/crishim/internal/errdefs"
)

// FuzzBuildSpec turns arbitrary container configs (a ContainerSpec as JSON: what cri hands
// the runtime) into OCI specs, as CreateContainer does: merge with the image defaults, build the
// spec, convert it to a libcontainer config. Nothing may panic; a refused config is an
// InvalidArgument or FailedPrecondition error; an accepted one keeps the invariants checked in
// checkSpec. The seeds run with a plain `go test`; fuzz with
//
//	go test -tags seccomp -run XXX -fuzz FuzzBuildSpec ./runtime/
func FuzzBuildSpec(f *testing.F) {
	add := func(cs ContainerSpec, profile string) {
		b, err := json.Marshal(cs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(profile))
	}
	cs := baseSpec()
	add(cs, "")
	cs.Security = Security{CapAdd: []string{"ALL", "net_raw"}, CapDrop: []string{"ALL"}, Seccomp: Seccomp{Type: SeccompRuntimeDefault},
		NoNewPrivs: true, MaskedPaths: []string{}, ReadOnlyRootfs: true, RunAsUser: new(int64)}
	cs.Mounts = []ContainerMount{{Source: "/a", Destination: "/x/../y", Propagation: PropagationBidirectional, Readonly: true},
		{Source: "/b", Destination: "/", RecursiveReadOnly: true, UIDMappings: []IDMapping{{0, 1000, 10}}}}
	cs.Devices = []Device{{HostPath: "/dev/null", ContainerPath: "/dev/xnull", Permissions: "rw"}}
	cs.Image.Config = ImageConfig{Entrypoint: []string{"/e"}, Cmd: []string{"c"}, Env: []string{"A=1", "B"}, WorkingDir: "w", StopSignal: "SIGQUIT"}
	cs.Env = []string{"A=2", "=x"}
	cs.Resources = Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimitInBytes: 1 << 20, PidsLimit: 5,
		HugepageLimits: []HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}}, OOMScoreAdj: -1000}
	add(cs, "")
	cs = baseSpec()
	cs.Security = Security{Seccomp: Seccomp{Type: SeccompLocalhost}}
	cs.Pod = PodSpec{HostNetwork: true, HostIPC: true, HostPID: true, UIDMappings: []IDMapping{{0, 100000, 65536}},
		GIDMappings: []IDMapping{{0, 100000, 65536}}, Sysctls: map[string]string{"net.core.somaxconn": "1"}}
	add(cs, `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`)
	cs = baseSpec()
	cs.Security.Privileged = true
	cs.Pod.PIDMode = PIDModeTarget
	cs.Pod.PIDTarget = "other"
	add(cs, "")
	f.Fuzz(func(t *testing.T, data, profile []byte) {
		var cs ContainerSpec
		if json.Unmarshal(data, &cs) != nil {
			return
		}
		if cs.Security.Seccomp.Type == SeccompLocalhost {
			// The profile comes from the fuzzer, never from a host path it names.
			p := filepath.Join(t.TempDir(), "profile.json")
			if err := os.WriteFile(p, profile, 0o600); err != nil {
				t.Fatal(err)
			}
			cs.Security.Seccomp.LocalhostPath = p
		}
		for i := range cs.Devices {
			// Only stat well-known device nodes, never arbitrary host paths.
			cs.Devices[i].HostPath = []string{"/dev/null", "/dev/zero", "/dev/full", "/nonexistent"}[len(cs.Devices[i].HostPath)%4]
		}
		s, err := specFromConfig(cs)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrFailedPrecondition) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		checkSpec(t, cs, s)
		// The monitor converts the spec to a libcontainer config; that may refuse, not panic.
		_, _ = specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "fuzz", Spec: s})
	})
}

// specFromConfig is the pure part of Manager.specInput + buildSpec.
func specFromConfig(cs ContainerSpec) (*specs.Spec, error) {
	args, err := processArgs(cs)
	if err != nil {
		return nil, err
	}
	if _, err := stopSignal(cs); err != nil {
		return nil, err
	}
	in := specInput{Spec: cs, RootfsPath: "/rootfs", Args: args, Env: processEnv(cs), Cwd: processCwd(cs),
		CgroupsPath: path.Join("/pod", cs.ID), Host: testHost}
	if cs.Pod.PIDMode == PIDModeTarget && cs.Pod.PIDTarget == "running" {
		in.PIDTargetNS = "/proc/42/ns/pid"
	}
	return buildSpec(in)
}

func checkSpec(t *testing.T, cs ContainerSpec, s *specs.Spec) {
	t.Helper()
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("spec does not marshal: %v", err)
	}
	if s.Root == nil || s.Root.Path != "/rootfs" || s.Process == nil || s.Linux == nil {
		t.Fatalf("spec without root, process or linux: %+v", s)
	}
	if len(s.Process.Args) == 0 {
		t.Fatalf("accepted a config with no command: %+v", cs)
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, n := range s.Linux.Namespaces {
		if seen[n.Type] {
			t.Fatalf("namespace %s twice: %+v", n.Type, s.Linux.Namespaces)
		}
		seen[n.Type] = true
	}
	if !seen[specs.MountNamespace] {
		t.Fatalf("no private mount namespace: %+v", s.Linux.Namespaces)
	}
	caps := s.Process.Capabilities
	for _, c := range caps.Bounding {
		if !slices.Contains(allCapNames, c) {
			t.Fatalf("unknown capability %q in %v", c, caps.Bounding)
		}
	}
	if cs.Security.Privileged {
		if s.Process.NoNewPrivileges || len(s.Linux.MaskedPaths) > 0 || s.Linux.Seccomp != nil {
			t.Fatalf("privileged container confined: %+v", s.Linux)
		}
	} else {
		if cs.Security.MaskedPaths == nil && len(s.Linux.MaskedPaths) == 0 {
			t.Fatal("default masked paths missing")
		}
		if cs.Security.Seccomp.Type == SeccompRuntimeDefault && s.Linux.Seccomp == nil {
			t.Fatal("RuntimeDefault without a seccomp filter")
		}
		for _, c := range caps.Bounding {
			if !slices.Contains(defaultCaps, c) && !slices.Contains(testHost.Caps, c) &&
				!slices.ContainsFunc(cs.Security.CapAdd, func(a string) bool { return normalizeCap(a) == c }) {
				t.Fatalf("capability %s neither default, added nor the host's", c)
			}
		}
	}
	if *s.Process.OOMScoreAdj < testHost.OOMScoreAdj {
		t.Fatalf("oom_score_adj %d below the daemon's %d", *s.Process.OOMScoreAdj, testHost.OOMScoreAdj)
	}
	dst := map[string]bool{}
	for _, m := range s.Mounts {
		if path.IsAbs(m.Destination) && path.Clean(m.Destination) != m.Destination {
			t.Fatalf("mount destination %q is not clean", m.Destination)
		}
		if dst[m.Destination] && !slices.ContainsFunc(cs.Mounts, func(c ContainerMount) bool { return path.Clean(c.Destination) == m.Destination }) {
			t.Fatalf("default mount %q twice", m.Destination)
		}
		dst[m.Destination] = true
	}
}
