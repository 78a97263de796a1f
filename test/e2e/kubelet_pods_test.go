package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const servedText = "hello-from-server"

// staticPod returns a static pod manifest of namespace ns.
func staticPod(ns, name, restart string, containers ...map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"restartPolicy": restart, "terminationGracePeriodSeconds": 2, "containers": containers,
		},
	}
}

func shPodContainer(name, script string) map[string]any {
	return map[string]any{
		"name": name, "image": busyboxRef, "imagePullPolicy": "IfNotPresent",
		"command": []string{"sh", "-c", script},
	}
}

// TestKubelet (issue 13): a kubelet, standalone with static pods, runs pods on the daemon the
// way a node does: pods Running, logs in /var/log/pods and through the kubelet, two containers
// sharing the pod network, a crash loop restarted, OnFailure + exit 0 → Succeeded, exec, a
// removed manifest stops and removes the pod, and the kubelet logs no runtime error. The
// kubelet sends hugepage limits for every huge page size: on a host without the hugetlb cgroup
// controller no container started before crishim dropped them.
func TestKubelet(t *testing.T) {
	k := newKubeletEnv(t)
	server := shPodContainer("server", "mkdir -p /www && echo "+servedText+" > /www/index.html && exec httpd -f -p 8080 -h /www")
	server["resources"] = map[string]any{"limits": map[string]string{"cpu": "100m", "memory": "64Mi"}}
	client := shPodContainer("client", "while true; do wget -q -O- http://127.0.0.1:8080/index.html || echo fetch failed; sleep 1; done")
	manifests := map[string]map[string]any{
		"web":   staticPod(k.ns, "web", "Always", server, client),
		"crash": staticPod(k.ns, "crash", "Always", shPodContainer("crash", "echo crashing; exit 3")),
		"once":  staticPod(k.ns, "once", "OnFailure", shPodContainer("once", "echo done; exit 0")),
	}
	for name, m := range manifests {
		if err := WriteManifest(k.manifest, name, m); err != nil {
			t.Fatal(err)
		}
	}

	web := k.waitPod("web", "Running with both containers running", 3*time.Minute, func(p KubePod) bool {
		s, c := p.Container("server"), p.Container("client")
		return p.Status.Phase == "Running" && s != nil && s.State.Running != nil && c != nil && c.State.Running != nil
	})
	k.waitPod("once", "Succeeded", 2*time.Minute, func(p KubePod) bool {
		c := p.Container("once")
		return p.Status.Phase == "Succeeded" && c != nil && c.State.Terminated != nil &&
			c.State.Terminated.ExitCode == 0 && c.State.Terminated.Reason == "Completed"
	})
	k.checkWeb(web)
	// The kubelet sent its pod CIDR through UpdateRuntimeConfig: the pod's address comes from it.
	if _, cidr, err := net.ParseCIDR(k.podCIDR); err != nil || !cidr.Contains(net.ParseIP(web.Status.PodIP)) {
		t.Errorf("pod web has IP %q, want one in the kubelet's pod CIDR %s (%v)", web.Status.PodIP, k.podCIDR, err)
	}
	crash := k.waitPod("crash", "restarted twice", 4*time.Minute, func(p KubePod) bool {
		c := p.Container("crash")
		return c != nil && c.RestartCount >= 2
	})
	t.Logf("crash: phase %s, restartCount %d", crash.Status.Phase, crash.Container("crash").RestartCount)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if logs, err := k.kc.Logs(ctx, k.ns, "crash-"+k.node, "crash"); err != nil || !strings.Contains(logs, "crashing") {
		t.Errorf("crash logs through the kubelet: %q, %v", logs, err)
	}

	// Removed manifests: the kubelet stops the pods and (its garbage collection runs every
	// minute) removes their sandboxes and containers from the runtime.
	if n := len(k.sandboxes()); n < 3 {
		t.Errorf("the daemon lists %d sandboxes of the kubelet's pods, want at least 3", n)
	}
	for name := range manifests {
		if err := os.Remove(filepath.Join(k.manifest, name+".json")); err != nil {
			t.Fatal(err)
		}
	}
	k.waitGone(3 * time.Minute)

	k.stop()
	log, err := os.ReadFile(k.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if bad := KubeletErrors(string(log), kubeletAllowedErrors); len(bad) > 0 {
		t.Errorf("the kubelet logged %d errors:\n%s", len(bad), strings.Join(bad[:min(len(bad), 30)], "\n"))
	}
}

// checkWeb checks the two-container pod: logs on disk and through the kubelet, the client
// reaching the server on localhost, exec through the kubelet, the server's memory limit.
func (k *kubeletEnv) checkWeb(web KubePod) {
	t := k.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pod := "web-" + k.node
	var logs string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		var err error
		logs, err = k.kc.Logs(ctx, k.ns, pod, "client")
		if err == nil && strings.Contains(logs, servedText) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client never reached the server on localhost: logs %q, %v", logs, err)
		}
	}
	file := filepath.Join(podLogsDir, k.ns+"_"+pod+"_"+web.Metadata.UID, "client", "0.log")
	lines, err := readCRILog(file)
	if err != nil {
		t.Fatalf("client log on disk: %v", err)
	}
	found := false
	for _, l := range lines {
		found = found || l.Stream == "stdout" && l.Text == servedText
	}
	if !found {
		t.Errorf("%s has no line %q: %+v", file, servedText, lines[:min(len(lines), 5)])
	}
	if out, err := k.kc.Run(ctx, k.ns, pod, "server", "cat /www/index.html"); err != nil || out != servedText+"\n" {
		t.Errorf("exec through the kubelet: %q, %v", out, err)
	}
	if out, err := k.kc.Run(ctx, k.ns, pod, "client", "wget -q -O- http://localhost:8080/index.html"); err != nil || out != servedText+"\n" {
		t.Errorf("exec of wget in the client: %q, %v", out, err)
	}
	if _, err := k.kc.Run(ctx, k.ns, pod, "server", "sh -c exit\\ 7"); err == nil {
		t.Errorf("exec of a failing command through the kubelet: no error")
	}
	id := web.Container("server").ContainerID
	ctr := k.e.containerStatus(id[strings.Index(id, "://")+3:])
	if mem := ctr.GetResources().GetLinux().GetMemoryLimitInBytes(); mem != 64<<20 {
		t.Errorf("server container memory limit %d, want %d", mem, 64<<20)
	}
}

// waitGone waits until the kubelet lists none of the test's pods and the daemon has no sandbox
// or container of them left.
func (k *kubeletEnv) waitGone(timeout time.Duration) {
	t := k.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := k.e.ctx()
		pods, err := k.kc.Pods(ctx)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		listed := 0
		for _, p := range pods {
			if p.Metadata.Namespace == k.ns {
				listed++
			}
		}
		ctrs, err := k.e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
			LabelSelector: map[string]string{"io.kubernetes.pod.namespace": k.ns},
		}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		sb := k.sandboxes()
		if listed == 0 && len(sb) == 0 && len(ctrs.Containers) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after removing the manifests (%v): the kubelet lists %d pods, the daemon %d sandboxes and %d containers",
				timeout, listed, len(sb), len(ctrs.Containers))
		}
		time.Sleep(2 * time.Second)
	}
}
