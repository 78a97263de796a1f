package runtime

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"time"

	"github.com/crishim/crishim/internal/cglimits"
	"github.com/crishim/crishim/internal/errdefs"
)

// specInput resolves what buildSpec needs from the host, the rootfs and other containers.
func (m *Manager) specInput(c *container, rootfs string) (specInput, error) {
	cs := c.rec.Spec
	args, err := processArgs(cs)
	if err != nil {
		return specInput{}, err
	}
	if _, err := stopSignal(cs); err != nil {
		return specInput{}, err
	}
	u, err := resolveUser(rootfs, cs.Security, cs.Image.Config.User)
	if err != nil {
		return specInput{}, fmt.Errorf("container %q: %w", cs.Name, err)
	}
	parent := cs.Pod.CgroupParent
	if parent == "" {
		parent = m.cfg.CgroupParent
	}
	in := specInput{
		Spec: cs, RootfsPath: rootfs, User: u, Args: args, Env: processEnv(cs),
		Cwd: processCwd(cs), CgroupsPath: path.Join(parent, cs.ID), Host: m.host,
	}
	if len(cs.Resources.HugepageLimits) > 0 {
		// A kubelet sends limits for every huge page size even where no hugetlb controller
		// exists; libcontainer would then refuse to start anything (as containerd's
		// tolerate_missing_hugetlb_controller, drop what cannot be enforced).
		in.Hugetlb = cglimits.HugetlbAvailable(m.host.CgroupV2, in.CgroupsPath)
		if !in.Hugetlb {
			m.log.Debug("hugetlb cgroup controller not available: hugepage limits dropped",
				"container", cs.Name, "pod", cs.PodID, "limits", len(cs.Resources.HugepageLimits))
		}
	}
	if cs.Pod.PIDMode == PIDModeTarget && !cs.Pod.HostPID {
		in.PIDTargetNS, err = m.targetPIDNS(cs.Pod.PIDTarget)
		if err != nil {
			return specInput{}, err
		}
	}
	return in, nil
}

// targetPIDNS returns the pid namespace path of a running container.
func (m *Manager) targetPIDNS(id string) (string, error) {
	t, err := m.get(id)
	if err != nil {
		return "", fmt.Errorf("pid namespace target: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshExit()
	if t.state() != StateRunning && t.state() != StateCreated {
		return "", fmt.Errorf("pid namespace target %q is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	return "/proc/" + strconv.Itoa(t.rec.Pid) + "/ns/pid", nil
}

// monitorCreate has the pod's monitor create the container's init process.
func (m *Manager) monitorCreate(ctx context.Context, c *container, undo *cleanups) (int, error) {
	cs := c.rec.Spec
	pm := m.podMonitor(cs.PodID)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if err := m.ensureMonitor(ctx, pm); err != nil {
		return 0, err
	}
	// Not cancelled half-way: a create the monitor finishes after we gave up would leak.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), monitorOpTimeout)
	defer cancel()
	resp, err := callMonitor(cctx, pm.sock, monRequest{
		Op: opCreate, ID: c.id, Bundle: c.dir, LogPath: cs.LogPath,
		LineMax: m.cfg.LogLineMaxBytes, Stdin: cs.Stdin,
	})
	if err != nil {
		// A create cancelled half-way may still have happened: delete it either way.
		undo.push(func() { m.monitorDelete(context.Background(), cs.PodID, c.id) })
		return 0, fmt.Errorf("create container %q: %w", c.id, err)
	}
	undo.push(func() { m.monitorDelete(context.Background(), cs.PodID, c.id) })
	return resp.Pid, nil
}

// monitorDelete kills and deletes a container in its monitor; errors are logged.
func (m *Manager) monitorDelete(ctx context.Context, podID, id string) {
	_, err := m.call(ctx, podID, monRequest{Op: opDelete, ID: id})
	if err != nil && !isNotFound(err) && !isUnavailable(err) {
		m.log.Warn("delete container in monitor", "id", id, "err", err)
	}
}

// monitorOpTimeout bounds monitor operations that must not be abandoned half-way.
const monitorOpTimeout = 2 * time.Minute
