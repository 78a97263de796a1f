package runtime

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// podMonitor is the daemon's handle on one pod's monitor; mu serialises spawn and shutdown.
type podMonitor struct {
	mu   sync.Mutex
	pod  string
	sock string
	dir  string
}

func (m *Manager) podMonitor(podID string) *podMonitor {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := m.monitors[podID]
	if pm == nil {
		h := sha256.Sum256([]byte(podID))
		pm = &podMonitor{
			pod:  podID,
			sock: filepath.Join(m.stateDir, "s", hex.EncodeToString(h[:10])),
			dir:  filepath.Join(m.stateDir, "monitors", podID),
		}
		m.monitors[podID] = pm
	}
	return pm
}

// call sends req to the pod's monitor (which must be running).
func (m *Manager) call(ctx context.Context, podID string, req monRequest) (monResponse, error) {
	return callMonitor(ctx, m.podMonitor(podID).sock, req)
}

// ensureMonitor starts the pod's monitor unless it answers a ping. Caller holds pm.mu.
func (m *Manager) ensureMonitor(ctx context.Context, pm *podMonitor) error {
	if _, err := callMonitor(ctx, pm.sock, monRequest{Op: opPing}); err == nil {
		return nil
	}
	if err := os.MkdirAll(pm.dir, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(pm.sock), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(pm.dir, "monitor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	cmd := exec.Command(m.exe, MonitorSubcommand, "--socket", pm.sock, "--root", m.lcRoot,
		"--pod", pm.pod, "--ready-fd", "3")
	cmd.Dir = pm.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.ExtraFiles = []*os.File{wr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "GOGC="+strconv.Itoa(m.cfg.MonitorGOGC), "GOMAXPROCS=1")
	if m.cfg.MonitorMemoryLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+m.cfg.MonitorMemoryLimit)
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("start pod monitor: %w", err)
	}
	// Reap it if it exits while this daemon runs; after a daemon restart init does.
	go func() { _ = cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(rd).ReadString('\n')
		if err == nil && line != "ok\n" {
			err = fmt.Errorf("unexpected readiness %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("pod monitor did not start (see %s): %w", filepath.Join(pm.dir, "monitor.log"), err)
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return fmt.Errorf("start pod monitor: %w: %w", errdefs.ErrDeadlineExceeded, ctx.Err())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("pod monitor did not become ready: %w", errdefs.ErrUnavailable)
	}
	m.log.Debug("pod monitor started", "pod", pm.pod, "pid", cmd.Process.Pid)
	return nil
}

// shutdownMonitor stops the pod's monitor (after its containers are removed). Caller holds
// pm.mu. A monitor that is not running is fine.
func (m *Manager) shutdownMonitor(ctx context.Context, pm *podMonitor) error {
	_, err := callMonitor(ctx, pm.sock, monRequest{Op: opShutdown})
	if err != nil && !isUnavailable(err) {
		return err
	}
	_ = os.Remove(pm.sock)
	_ = os.RemoveAll(pm.dir)
	m.mu.Lock()
	delete(m.monitors, pm.pod)
	m.mu.Unlock()
	return nil
}
