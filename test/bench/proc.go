package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcMem is the memory of one process, in KiB.
type ProcMem struct {
	PID int
	RSS int64 // VmRSS from /proc/<pid>/status
	PSS int64 // Pss from /proc/<pid>/smaps_rollup
}

// ReadProcMem reads the RSS and PSS of pid.
func ReadProcMem(pid int) (ProcMem, error) {
	m := ProcMem{PID: pid}
	var err error
	if m.RSS, err = procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:"); err != nil {
		return m, err
	}
	if m.PSS, err = procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:"); err != nil {
		return m, err
	}
	return m, nil
}

// procField returns the KiB value of the first line of path starting with key.
func procField(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		fields := strings.Fields(line[len(key):])
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}

// MatchCmdline reports whether cmdline contains every substring.
func MatchCmdline(cmdline string, substrings []string) bool {
	for _, s := range substrings {
		if !strings.Contains(cmdline, s) {
			return false
		}
	}
	return len(substrings) > 0
}

// SumProcMem sums RSS and PSS over pids, skipping processes that vanished; it returns the
// totals and how many processes were read.
func SumProcMem(pids []int) (rss, pss int64, n int) {
	for _, pid := range pids {
		m, err := ReadProcMem(pid)
		if err != nil {
			continue
		}
		rss += m.RSS
		pss += m.PSS
		n++
	}
	return rss, pss, n
}

// KernelMem returns the host's kernel memory that grows with pods (Slab + KernelStack +
// PageTables from /proc/meminfo), in KiB; host-wide, so other activity adds noise.
func KernelMem() int64 {
	var total int64
	for _, key := range []string{"Slab:", "KernelStack:", "PageTables:"} {
		if v, err := procField("/proc/meminfo", key); err == nil {
			total += v
		}
	}
	return total
}
