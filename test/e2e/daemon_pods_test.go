package e2e

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	manyPods    = 50
	podsWorkers = 5
)

// TestDaemon50Pods (issue 5): 50 pods with a container each, created and removed through the
// daemon → no mount, netns pin, cgroup, process (monitor, infra), veth, IP reservation or state
// file left, checked while the daemon still runs and again by the leak check after it stops.
func TestDaemon50Pods(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()
	baseline := treeFiles(e.cfg.RootDir, e.cfg.StateDir)

	start := time.Now()
	ids := make([]string, manyPods)
	err := forEach(manyPods, podsWorkers, func(i int) error {
		id, err := e.tryPodWithContainer(i)
		ids[i] = id
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	if p, c := e.listCounts(); p != manyPods || c != manyPods {
		t.Errorf("%d pods, %d containers listed, want %d each", p, c, manyPods)
	}
	procs := e.daemonProcesses()
	t.Logf("%d pods with a container each created in %v; %d helper processes (monitors, infra) besides the daemon",
		manyPods, created.Round(time.Millisecond), len(procs))
	for _, p := range procs[:min(2, len(procs))] {
		t.Logf("  e.g. %s", p.What)
	}
	if len(procs) == 0 {
		t.Errorf("no monitor process found: the process check below cannot see them")
	}

	start = time.Now()
	err = forEach(manyPods, podsWorkers, func(i int) error { return e.tryRemovePod(ids[i]) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pods removed in %v", manyPods, time.Since(start).Round(time.Millisecond))
	if p, c := e.listCounts(); p != 0 || c != 0 {
		t.Errorf("after removing every pod: %d pods, %d containers listed", p, c)
	}
	for _, leak := range e.liveLeaks(ids, baseline) {
		t.Errorf("left behind while the daemon runs: %s", leak)
	}
}

// tryPodWithContainer runs pod i with one container (every fifth one has already exited) and
// returns the pod id; safe to call from several goroutines.
func (e *daemonEnv) tryPodWithContainer(i int) (string, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	cfg := e.podConfig(fmt.Sprintf("many-%02d", i))
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return "", fmt.Errorf("run pod %d: %w", i, err)
	}
	script := "exec sleep 3600"
	if i%5 == 0 {
		script = "exit 0"
	}
	ctr, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId, Config: shContainer("c", script), SandboxConfig: cfg})
	if err != nil {
		return pod.PodSandboxId, fmt.Errorf("create container in pod %d: %w", i, err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		return pod.PodSandboxId, fmt.Errorf("start container in pod %d: %w", i, err)
	}
	return pod.PodSandboxId, nil
}

// tryRemovePod stops and removes a pod; safe to call from several goroutines.
func (e *daemonEnv) tryRemovePod(id string) error {
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("stop pod %s: %w", id, err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("remove pod %s: %w", id, err)
	}
	return nil
}

// forEach runs f(0..n-1) on workers goroutines and returns the first error.
func forEach(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// daemonProcesses returns the processes running the daemon's executables, but the daemon.
func (e *daemonEnv) daemonProcesses() []Leak {
	var out []Leak
	for _, l := range processLeaks(LeakScope{Executables: e.executables()}) {
		if l.pid != e.d.Pid() {
			out = append(out, l)
		}
	}
	return out
}

// liveLeaks lists, while the daemon runs with no pod, what the removed pods left: processes,
// processes and cgroups below the cgroup parent, mounts below the dirs (pinned namespaces,
// rootfs, shm), veths on the pod bridge, and files under the root and state dirs that were not
// there before the pods (records, IP reservations, sockets) or that name a pod.
func (e *daemonEnv) liveLeaks(podIDs []string, baseline map[string]bool) []string {
	var leaks []string
	for _, l := range e.daemonProcesses() {
		leaks = append(leaks, l.String())
	}
	for _, l := range processLeaks(LeakScope{CgroupParent: e.cfg.CgroupParent}) {
		leaks = append(leaks, l.String())
	}
	for _, l := range cgroupLeaks(e.cfg.CgroupParent) {
		leaks = append(leaks, l.String())
	}
	mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.dir))
	for _, m := range mounts {
		leaks = append(leaks, "mount: "+m.Mountpoint+" ("+m.FSType+")")
	}
	if br, err := netlink.LinkByName(e.cfg.CNIBridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				leaks = append(leaks, "veth on "+e.cfg.CNIBridge+": "+l.Attrs().Name)
			}
		}
	}
	for p := range treeFiles(e.cfg.RootDir, e.cfg.StateDir) {
		// New directories are fine (a parent made once); what a pod leaves in them is not.
		if !baseline[p] && !strings.HasSuffix(p, "/") && !allowedNewFile(p) {
			leaks = append(leaks, "file: "+p+" (new since the pods were created)")
			continue
		}
		for _, id := range podIDs {
			if strings.Contains(p, id) || strings.Contains(p, id[:12]) {
				leaks = append(leaks, "file: "+p+" (names a removed pod)")
			}
		}
	}
	return leaks
}

// allowedNewFile: files a pod may leave on purpose. host-local IPAM remembers the last address
// it handed out (so that addresses are not reused at once) and keeps a lock file.
func allowedNewFile(p string) bool {
	base := filepath.Base(p)
	return strings.HasPrefix(base, "last_reserved_ip.") || base == "lock"
}

// treeFiles returns every path below the dirs (directories too, with a trailing slash).
func treeFiles(dirs ...string) map[string]bool {
	files := map[string]bool{}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				p += "/"
			}
			files[p] = true
			return nil
		})
	}
	return files
}
