package cri

import (
	"errors"
	"reflect"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

func TestSeccompVariants(t *testing.T) {
	prof := func(ty runtimeapi.SecurityProfile_ProfileType, ref string) *runtimeapi.SecurityProfile {
		return &runtimeapi.SecurityProfile{ProfileType: ty, LocalhostRef: ref}
	}
	cases := []struct {
		name string
		sc   *runtimeapi.LinuxContainerSecurityContext
		want runtime.Seccomp
		kind error
	}{
		{"nothing", nil, runtime.Seccomp{Type: runtime.SeccompUnconfined}, nil},
		{"runtime default", &runtimeapi.LinuxContainerSecurityContext{Seccomp: prof(runtimeapi.SecurityProfile_RuntimeDefault, "")}, runtime.Seccomp{Type: runtime.SeccompRuntimeDefault}, nil},
		{"unconfined", &runtimeapi.LinuxContainerSecurityContext{Seccomp: prof(runtimeapi.SecurityProfile_Unconfined, "")}, runtime.Seccomp{Type: runtime.SeccompUnconfined}, nil},
		{"localhost", &runtimeapi.LinuxContainerSecurityContext{Seccomp: prof(runtimeapi.SecurityProfile_Localhost, "/p/a.json")}, runtime.Seccomp{Type: runtime.SeccompLocalhost, LocalhostPath: "/p/a.json"}, nil},
		{"localhost relative", &runtimeapi.LinuxContainerSecurityContext{Seccomp: prof(runtimeapi.SecurityProfile_Localhost, "a.json")}, runtime.Seccomp{}, errdefs.ErrInvalidArgument},
		{"unknown type", &runtimeapi.LinuxContainerSecurityContext{Seccomp: prof(7, "")}, runtime.Seccomp{}, errdefs.ErrInvalidArgument},
		{"path runtime/default", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}, runtime.Seccomp{Type: runtime.SeccompRuntimeDefault}, nil},
		{"path docker/default", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "docker/default"}, runtime.Seccomp{Type: runtime.SeccompRuntimeDefault}, nil},
		{"path unconfined", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "unconfined"}, runtime.Seccomp{Type: runtime.SeccompUnconfined}, nil},
		{"path localhost", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "localhost//var/lib/s.json"}, runtime.Seccomp{Type: runtime.SeccompLocalhost, LocalhostPath: "/var/lib/s.json"}, nil},
		{"path localhost relative", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "localhost/s.json"}, runtime.Seccomp{}, errdefs.ErrInvalidArgument},
		{"path unknown", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "bogus"}, runtime.Seccomp{}, errdefs.ErrInvalidArgument},
	}
	for _, c := range cases {
		got, err := seccompFromCRI(c.sc)
		if c.kind != nil {
			if !errors.Is(err, c.kind) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.kind)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func TestAppArmorUnavailable(t *testing.T) {
	ok := []*runtimeapi.LinuxContainerSecurityContext{
		nil,
		{ApparmorProfile: "unconfined"},
		{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}},
	}
	for _, sc := range ok {
		if err := checkAppArmor(sc); err != nil {
			t.Errorf("checkAppArmor(%v) = %v", sc, err)
		}
	}
	bad := []*runtimeapi.LinuxContainerSecurityContext{
		{ApparmorProfile: "runtime/default"},
		{ApparmorProfile: "localhost/foo"},
		{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}},
		{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "foo"}},
	}
	for _, sc := range bad {
		if err := checkAppArmor(sc); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("checkAppArmor(%v) = %v, want FailedPrecondition", sc, err)
		}
	}
}

func TestSecurityContext(t *testing.T) {
	uid := &runtimeapi.Int64Value{Value: 1000}
	gid := &runtimeapi.Int64Value{Value: 2000}
	sc := &runtimeapi.LinuxContainerSecurityContext{
		Capabilities:             &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}},
		RunAsUser:                uid,
		RunAsGroup:               gid,
		SupplementalGroups:       []int64{3000},
		SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict,
		NoNewPrivs:               true,
		ReadonlyRootfs:           true,
		MaskedPaths:              []string{"/proc/kcore"},
		ReadonlyPaths:            []string{"/proc/sys"},
		SelinuxOptions:           &runtimeapi.SELinuxOption{Level: "s0"},
	}
	sec, err := securityFromCRI(sc, testPod())
	if err != nil {
		t.Fatal(err)
	}
	u, g := int64(1000), int64(2000)
	want := runtime.Security{
		CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, RunAsUser: &u, RunAsGroup: &g,
		SupplementalGroups: []int64{3000}, SupplementalGroupsPolicy: runtime.SupplementalGroupsStrict,
		NoNewPrivs: true, ReadOnlyRootfs: true, MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"},
		Seccomp: runtime.Seccomp{Type: runtime.SeccompUnconfined},
	}
	if !reflect.DeepEqual(sec, want) {
		t.Errorf("security =\n%+v\nwant\n%+v", sec, want)
	}
	// Empty masked/readonly lists mean the runtime defaults (nil).
	sec, err = securityFromCRI(&runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "www-data", RunAsGroup: gid}, testPod())
	if err != nil || sec.MaskedPaths != nil || sec.ReadonlyPaths != nil || sec.RunAsUsername != "www-data" || *sec.RunAsGroup != 2000 {
		t.Errorf("username + group: %+v, %v", sec, err)
	}
}

func TestSecurityRejects(t *testing.T) {
	cases := map[string]struct {
		sc   *runtimeapi.LinuxContainerSecurityContext
		kind error
	}{
		"group without user":      {&runtimeapi.LinuxContainerSecurityContext{RunAsGroup: &runtimeapi.Int64Value{Value: 1}}, errdefs.ErrInvalidArgument},
		"negative user":           {&runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: -1}}, errdefs.ErrInvalidArgument},
		"negative supp group":     {&runtimeapi.LinuxContainerSecurityContext{SupplementalGroups: []int64{-5}}, errdefs.ErrInvalidArgument},
		"privileged in plain pod": {&runtimeapi.LinuxContainerSecurityContext{Privileged: true}, errdefs.ErrInvalidArgument},
		"ambient caps":            {&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddAmbientCapabilities: []string{"NET_RAW"}}}, errdefs.ErrNotImplemented},
		"policy":                  {&runtimeapi.LinuxContainerSecurityContext{SupplementalGroupsPolicy: 9}, errdefs.ErrInvalidArgument},
		"apparmor":                {&runtimeapi.LinuxContainerSecurityContext{ApparmorProfile: "runtime/default"}, errdefs.ErrFailedPrecondition},
	}
	for name, c := range cases {
		if _, err := securityFromCRI(c.sc, testPod()); !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", name, err, c.kind)
		}
	}
	pod := testPod()
	pod.Privileged = true
	sec, err := securityFromCRI(&runtimeapi.LinuxContainerSecurityContext{Privileged: true}, pod)
	if err != nil || !sec.Privileged {
		t.Errorf("privileged in privileged pod: %+v, %v", sec, err)
	}
}
