package cri

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

func TestMounts(t *testing.T) {
	h := t.TempDir()
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		if err := os.Mkdir(filepath.Join(h, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in := []*runtimeapi.Mount{
		{ContainerPath: "/a", HostPath: h + "/a"},
		{ContainerPath: "/b", HostPath: h + "/b", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, SelinuxRelabel: true},
		{ContainerPath: "/c", HostPath: h + "/c", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		{ContainerPath: "/d", HostPath: h + "/d", Readonly: true, RecursiveReadOnly: true},
		{ContainerPath: "/e", HostPath: h + "/e", UidMappings: []*runtimeapi.IDMapping{{HostId: 1000, ContainerId: 0, Length: 10}},
			GidMappings: []*runtimeapi.IDMapping{{HostId: 2000, ContainerId: 0, Length: 10}}},
		{ContainerPath: "/img", Image: &runtimeapi.ImageSpec{Image: "vol:1"}},
	}
	got, err := testBuilder(testPod()).mounts(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.ContainerMount{
		{Source: h + "/a", Destination: "/a"},
		{Source: h + "/b", Destination: "/b", Readonly: true, Propagation: runtime.PropagationHostToContainer},
		{Source: h + "/c", Destination: "/c", Propagation: runtime.PropagationBidirectional},
		{Source: h + "/d", Destination: "/d", Readonly: true, RecursiveReadOnly: true},
		{Source: h + "/e", Destination: "/e", UIDMappings: []runtime.IDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
			GIDMappings: []runtime.IDMapping{{ContainerID: 0, HostID: 2000, Size: 10}}},
		{Destination: "/img", Readonly: true, ImageID: "sha256:2222", ImageRef: "vol:1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts =\n%+v\nwant\n%+v", got, want)
	}
	back := mountsToCRI(got)
	for i, m := range back {
		if m.ContainerPath != in[i].ContainerPath || m.Propagation != in[i].Propagation || m.RecursiveReadOnly != in[i].RecursiveReadOnly ||
			len(m.UidMappings) != len(in[i].UidMappings) || (in[i].Image != nil) != (m.Image != nil) {
			t.Errorf("status mount %d = %v, want like %v", i, m, in[i])
		}
	}
}

func TestMountRejects(t *testing.T) {
	dangling := filepath.Join(t.TempDir(), "dangling")
	if err := os.Symlink("/nonexistent/crishim-test", dangling); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		m    *runtimeapi.Mount
		kind error
	}{
		"relative host path":      {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "a"}, errdefs.ErrInvalidArgument},
		"relative container path": {&runtimeapi.Mount{ContainerPath: "a", HostPath: "/a"}, errdefs.ErrInvalidArgument},
		"rro without readonly":    {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/a", RecursiveReadOnly: true}, errdefs.ErrInvalidArgument},
		"rro with rslave": {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/a", Readonly: true, RecursiveReadOnly: true,
			Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, errdefs.ErrInvalidArgument},
		"unknown propagation": {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/a", Propagation: 5}, errdefs.ErrInvalidArgument},
		"uid without gid": {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/a",
			UidMappings: []*runtimeapi.IDMapping{{Length: 1}}}, errdefs.ErrInvalidArgument},
		"missing image":  {&runtimeapi.Mount{ContainerPath: "/a", Image: &runtimeapi.ImageSpec{Image: "nope:1"}}, errdefs.ErrNotFound},
		"image sub path": {&runtimeapi.Mount{ContainerPath: "/a", Image: &runtimeapi.ImageSpec{Image: "vol:1"}, ImageSubPath: "x"}, errdefs.ErrNotImplemented},
		"mount options":  {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/a", MountOptions: []string{"noexec"}}, errdefs.ErrNotImplemented},
		// Issue 14 item 9: refused before anything is created, not Internal from the monitor.
		"missing host path": {&runtimeapi.Mount{ContainerPath: "/a", HostPath: "/nonexistent/crishim-test"}, errdefs.ErrInvalidArgument},
		"dangling symlink":  {&runtimeapi.Mount{ContainerPath: "/a", HostPath: dangling}, errdefs.ErrInvalidArgument},
	}
	for name, c := range cases {
		_, err := testBuilder(testPod()).mounts([]*runtimeapi.Mount{c.m})
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", name, err, c.kind)
		}
		if p := c.m.GetHostPath(); c.kind == errdefs.ErrInvalidArgument && strings.HasPrefix(name, "missing") && !strings.Contains(fmt.Sprint(err), p) {
			t.Errorf("%s: err = %v, does not name %s", name, err, p)
		}
	}
}

func TestDevices(t *testing.T) {
	got, err := devicesFromCRI([]*runtimeapi.Device{{HostPath: "/dev/fuse"}, {HostPath: "/dev/null", ContainerPath: "/dev/xnull", Permissions: "rw"}})
	want := []runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse"}, {HostPath: "/dev/null", ContainerPath: "/dev/xnull", Permissions: "rw"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("devices = %+v, %v", got, err)
	}
}
