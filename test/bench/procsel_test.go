package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A host with containerd (pid 100) and crishim (pid 200), two pods each, plus noise.
var fakeProcs = []ProcInfo{
	{PID: 1, PPID: 0, Cmdline: "/sbin/init"},
	{PID: 50, PPID: 1, Cmdline: "cribench run --endpoint containerd=unix:///w/containerd/containerd.sock"},
	{PID: 100, PPID: 1, Cmdline: "containerd --config /w/containerd/config.toml"},
	// containerd: one shim per pod, parent of the pause and of the workload
	{PID: 110, PPID: 1, Cmdline: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id a -address /w/containerd/containerd.sock"},
	{PID: 111, PPID: 110, Cmdline: "/bin/pause"},
	{PID: 112, PPID: 110, Cmdline: "/bin/sleep infinity"},
	{PID: 113, PPID: 112, Cmdline: "/bin/true"}, // a child of the workload is the workload's
	{PID: 120, PPID: 1, Cmdline: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id b -address /w/containerd/containerd.sock"},
	{PID: 121, PPID: 120, Cmdline: "/bin/pause"},
	{PID: 122, PPID: 120, Cmdline: "/bin/sleep infinity"},
	// a shim of another containerd on the host
	{PID: 130, PPID: 1, Cmdline: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id c -address /run/containerd/containerd.sock"},
	{PID: 131, PPID: 130, Cmdline: "/pause"},
	// crishim: the daemon's infra child (shared-PID pod), monitors parent the workloads
	{PID: 200, PPID: 1, Cmdline: "/o/shim daemon --config /w/crishim/config.toml"},
	{PID: 201, PPID: 200, Cmdline: "crishim-infra --pid /w/crishim/state/p1"},
	{PID: 210, PPID: 1, Cmdline: "/o/shim monitor --socket /w/crishim/state/m1.sock"},
	{PID: 211, PPID: 210, Cmdline: "/bin/sleep infinity"},
	{PID: 220, PPID: 1, Cmdline: "/o/shim monitor --socket /w/crishim/state/m2.sock"},
	{PID: 221, PPID: 220, Cmdline: "/bin/sleep infinity"},
}

func TestSelectPodProcs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern []string
		daemon  int
		want    []int
	}{
		{"containerd: shims and pauses, not workloads, not another containerd's", []string{"containerd-shim-runc-v2", "/w/containerd/containerd.sock"}, 100, []int{110, 111, 120, 121}},
		{"crishim: monitors and the daemon's infra child", []string{" monitor --socket ", "/w/"}, 200, []int{201, 210, 220}},
		{"no daemon pid: the pattern's trees only", []string{" monitor --socket ", "/w/"}, 0, []int{210, 220}},
		{"no pattern: the daemon's children only", nil, 200, []int{201}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SelectPodProcs(fakeProcs, tc.pattern, tc.daemon, WorkloadCmdline, 50)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSelectPodProcsCycleSafe(t *testing.T) {
	// a pid reused while reading /proc can make a parent loop; the walk must end
	procs := []ProcInfo{{PID: 5, PPID: 6, Cmdline: "shim x"}, {PID: 6, PPID: 5, Cmdline: "other"}}
	got := SelectPodProcs(procs, []string{"shim"}, 0, WorkloadCmdline, 0)
	slices.Sort(got)
	if !slices.Equal(got, []int{5, 6}) {
		t.Errorf("got %v", got)
	}
}

func TestListProcsFakeProc(t *testing.T) {
	root := t.TempDir()
	write := func(pid, stat, cmdline string) {
		d := filepath.Join(root, pid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o644)
	}
	// a comm with spaces and parentheses must not shift the fields
	write("110", "110 (containerd-shim) S 1 110 110 0 -1", "containerd-shim-runc-v2\x00-address\x00/w/c.sock\x00")
	write("111", "111 (we(ird) name) S 110 111 111 0 -1", "/bin/pause\x00")
	write("112", "112 (kworker/0:1) I 2 0 0 0 -1", "") // kernel thread: no cmdline
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	os.MkdirAll(filepath.Join(root, "113"), 0o755) // vanished while reading: skipped
	got := ListProcs(root)
	want := []ProcInfo{
		{PID: 110, PPID: 1, Cmdline: "containerd-shim-runc-v2 -address /w/c.sock"},
		{PID: 111, PPID: 110, Cmdline: "/bin/pause"},
		{PID: 112, PPID: 2, Cmdline: ""},
	}
	slices.SortFunc(got, func(a, b ProcInfo) int { return a.PID - b.PID })
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestWorkloadCmdlineIsTheContainers(t *testing.T) {
	r := &Runner{}
	pod := r.PodConfig(&Endpoint{Name: "e"}, "x")
	c := r.ContainerConfig("c", pod)
	if got := strings.Join(append(slices.Clone(c.Command), c.Args...), " "); got != WorkloadCmdline {
		t.Errorf("container runs %q, WorkloadCmdline is %q: the memory figures would count the workload", got, WorkloadCmdline)
	}
}

func TestListProcsRealProc(t *testing.T) {
	for _, p := range ListProcs("/proc") {
		if p.PID == os.Getpid() {
			if p.PPID != os.Getppid() || !strings.Contains(p.Cmdline, filepath.Base(os.Args[0])) {
				t.Errorf("self read as %+v (ppid %d, argv0 %s)", p, os.Getppid(), os.Args[0])
			}
			return
		}
	}
	t.Error("ListProcs(/proc) misses this process")
}
