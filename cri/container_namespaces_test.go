package cri

import (
	"errors"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

func TestPIDModes(t *testing.T) {
	podShared := testPod()
	podOwn := testPod()
	podOwn.PIDMode, podOwn.PIDNSPath = sandbox.PIDModeContainer, ""
	podHost := testPod()
	podHost.PIDMode, podHost.PIDNSPath, podHost.HostPID = sandbox.PIDModeNode, "", true
	podTarget := testPod()
	podTarget.PIDMode, podTarget.PIDNSPath, podTarget.PIDTarget = sandbox.PIDModeTarget, "", "ctr9"
	ns := func(pid runtimeapi.NamespaceMode, target string) *runtimeapi.NamespaceOption {
		return &runtimeapi.NamespaceOption{Pid: pid, TargetId: target}
	}
	cases := []struct {
		name       string
		pod        sandbox.Sandbox
		ns         *runtimeapi.NamespaceOption
		mode       runtime.PIDMode
		nsPath     string
		target     string
		invalidArg bool
	}{
		{"nil options follow a shared pod", podShared, nil, runtime.PIDModePod, "/proc/77/ns/pid", "", false},
		{"POD in shared pod", podShared, ns(runtimeapi.NamespaceMode_POD, ""), runtime.PIDModePod, "/proc/77/ns/pid", "", false},
		{"POD in per-container pod", podOwn, ns(runtimeapi.NamespaceMode_POD, ""), runtime.PIDModeContainer, "", "", false},
		{"POD in host pod", podHost, nil, runtime.PIDModeNode, "", "", false},
		{"POD in target pod", podTarget, nil, runtime.PIDModeTarget, "", "ctr9", false},
		{"CONTAINER in shared pod", podShared, ns(runtimeapi.NamespaceMode_CONTAINER, ""), runtime.PIDModeContainer, "", "", false},
		{"NODE in host pod", podHost, ns(runtimeapi.NamespaceMode_NODE, ""), runtime.PIDModeNode, "", "", false},
		{"TARGET", podShared, ns(runtimeapi.NamespaceMode_TARGET, "ctr1"), runtime.PIDModeTarget, "", "ctr1", false},
		{"NODE in non-host pod", podShared, ns(runtimeapi.NamespaceMode_NODE, ""), 0, "", "", true},
		{"CONTAINER in host pod", podHost, ns(runtimeapi.NamespaceMode_CONTAINER, ""), 0, "", "", true},
		{"TARGET without id", podShared, ns(runtimeapi.NamespaceMode_TARGET, ""), 0, "", "", true},
		{"unknown mode", podShared, ns(17, ""), 0, "", "", true},
	}
	for _, c := range cases {
		ps, err := podSpec(c.pod, c.ns)
		if c.invalidArg {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want InvalidArgument", c.name, err)
			}
			continue
		}
		if err != nil || ps.PIDMode != c.mode || ps.PIDNSPath != c.nsPath || ps.PIDTarget != c.target {
			t.Errorf("%s: mode %v path %q target %q err %v; want %v %q %q", c.name, ps.PIDMode, ps.PIDNSPath, ps.PIDTarget, err, c.mode, c.nsPath, c.target)
		}
	}
}

func TestNetworkIPCUserNamespaces(t *testing.T) {
	plain := testPod()
	host := testPod()
	host.HostNetwork, host.HostIPC, host.NetNSPath, host.IPCNSPath = true, true, "", ""
	userns := testPod()
	userns.UIDMappings = []sandbox.IDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	userns.GIDMappings = userns.UIDMappings
	node, pod := runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_POD
	cases := []struct {
		name string
		pod  sandbox.Sandbox
		ns   *runtimeapi.NamespaceOption
		ok   bool
	}{
		{"host pod, container repeats NODE", host, &runtimeapi.NamespaceOption{Network: node, Ipc: node}, true},
		{"host pod, container says POD", host, &runtimeapi.NamespaceOption{}, true},
		{"plain pod, container asks host network", plain, &runtimeapi.NamespaceOption{Network: node}, false},
		{"plain pod, container asks host ipc", plain, &runtimeapi.NamespaceOption{Ipc: node}, false},
		{"container network namespace", plain, &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_CONTAINER}, false},
		{"userns pod, POD", userns, &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: pod}}, true},
		{"userns pod, NODE", userns, &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: node}}, false},
		{"plain pod, userns POD", plain, &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: pod}}, false},
		{"plain pod, userns NODE", plain, &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: node}}, true},
		{"userns CONTAINER", plain, &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}}, false},
	}
	for _, c := range cases {
		ps, err := podSpec(c.pod, c.ns)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if err == nil && (ps.HostNetwork != c.pod.HostNetwork || ps.NetNSPath != c.pod.NetNSPath || len(ps.UIDMappings) != len(c.pod.UIDMappings)) {
			t.Errorf("%s: pod spec %+v", c.name, ps)
		}
	}
	ps, _ := podSpec(userns, nil)
	if len(ps.GIDMappings) != 1 || ps.GIDMappings[0] != (runtime.IDMapping{ContainerID: 0, HostID: 100000, Size: 65536}) {
		t.Errorf("mappings not copied: %+v", ps.GIDMappings)
	}
}
