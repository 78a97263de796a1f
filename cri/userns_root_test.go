package cri

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/sandbox"
)

// TestUserNamespacePodRoot runs a container of a user-namespaced pod (shared PID namespace,
// namespaced sysctls) through the CRI handlers: it joins the pod's user namespace, sees the
// mapping, mounts its own /proc and /sys, gets the pod's sysctls, /dev/shm, hostname and
// hosts file.
func TestUserNamespacePodRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mapping := []sandbox.IDMapping{{ContainerID: 0, HostID: 1000, Size: 65536}}
	e := newRootEnv(t, func(pc *sandbox.PodConfig) {
		pc.Namespaces.PID = sandbox.NamespaceModePod
		pc.Namespaces.UserNS = &sandbox.UserNamespace{Mode: sandbox.NamespaceModePod, UIDs: mapping, GIDs: mapping}
		pc.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shmmni": "1234"}
	})
	// t.TempDir's parent is 0700: the container's root is an unprivileged host uid.
	if err := os.Chmod(filepath.Dir(e.dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if e.pod.UserNSPath == "" {
		t.Fatalf("pod has no user namespace: %+v", e.pod)
	}
	ctx := context.Background()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "u"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sleep", "1000"},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}},
		}},
	}
	resp, err := e.rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: e.pod.ID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	defer e.rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
	if _, err := e.rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	cmd := "cat /proc/self/uid_map /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni; " +
		"id -u; cat /proc/1/cmdline | grep -c sleep; touch /dev/shm/x && echo shm; cat /etc/hostname; " +
		"grep -q localhost /etc/hosts && echo hosts; ls /sys/class/net"
	out, err := e.rc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", cmd}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out.Stdout)), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	// PID 1 is the infra (shared PID namespace), so the container's sleep is not PID 1.
	want := "0 1000 65536|80|1234|0|0|shm|p|hosts|lo"
	if strings.Join(got, "|") != want || out.ExitCode != 0 {
		t.Errorf("got %q (stderr %q, exit %d), want %q", strings.Join(got, "|"), out.Stderr, out.ExitCode, want)
	}
	if _, err := e.rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
}
