package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WorkloadCmdline is the command line of every container the benchmark runs (see
// ContainerConfig); its processes are the workload, never the runtime's overhead.
const WorkloadCmdline = "/bin/sleep infinity"

// ProcInfo is one process of a /proc snapshot.
type ProcInfo struct {
	PID, PPID int
	Cmdline   string // arguments joined by spaces; empty for kernel threads
}

// ListProcs reads every process under procRoot (normally /proc); processes that vanish
// while it reads are skipped.
func ListProcs(procRoot string) []ProcInfo {
	ents, _ := os.ReadDir(procRoot)
	var procs []ProcInfo
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after
		// the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		raw, _ := os.ReadFile(filepath.Join(procRoot, ent.Name(), "cmdline"))
		cmd := string(bytes.ReplaceAll(bytes.TrimRight(raw, "\x00"), []byte{0}, []byte{' '}))
		procs = append(procs, ProcInfo{PID: pid, PPID: ppid, Cmdline: cmd})
	}
	return procs
}

// SelectPodProcs returns the processes a runtime keeps for its pods, beside its daemon:
// every process whose command line contains all of pattern (containerd's shims, crishim's
// monitors), every child of the daemon (crishim's infra processes of shared-PID pods), and
// all their descendants (containerd's pause processes), except the workload (processes
// whose command line is workload, with their descendants), the daemon itself and self.
// A shim's pause is the runtime's cost, not the pod's: kubelet asked for a container only.
func SelectPodProcs(procs []ProcInfo, pattern []string, daemonPID int, workload string, self int) []int {
	children := map[int][]int{}
	byPID := map[int]ProcInfo{}
	var queue []int
	for _, p := range procs {
		byPID[p.PID] = p
		children[p.PPID] = append(children[p.PPID], p.PID)
		if MatchCmdline(p.Cmdline, pattern) {
			queue = append(queue, p.PID)
		}
	}
	if daemonPID > 0 {
		queue = append(queue, children[daemonPID]...)
	}
	seen := map[int]bool{daemonPID: true, self: true}
	var out []int
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if byPID[pid].Cmdline == workload {
			continue
		}
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}
