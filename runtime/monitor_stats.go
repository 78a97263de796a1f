package runtime

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MonitorInfo describes a running pod monitor process.
type MonitorInfo struct {
	PodID    string
	Pid      int
	RSSBytes uint64
}

// Monitors lists the pod monitors that answer on their socket, with their resident memory
// (the pid comes from the socket's peer credentials, so it also works for monitors started
// by a previous daemon).
func (m *Manager) Monitors() []MonitorInfo {
	m.mu.Lock()
	pms := make([]*podMonitor, 0, len(m.monitors))
	for _, pm := range m.monitors {
		pms = append(pms, pm)
	}
	m.mu.Unlock()
	var out []MonitorInfo
	for _, pm := range pms {
		pid, err := peerPid(pm.sock)
		if err != nil {
			continue
		}
		out = append(out, MonitorInfo{PodID: pm.pod, Pid: pid, RSSBytes: processRSS(pid)})
	}
	return out
}

// peerPid connects to a unix socket and returns the pid of the process serving it.
func peerPid(sock string) (int, error) {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

// processRSS reads VmRSS of pid in bytes (0 when unknown).
func processRSS(pid int) uint64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
