package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/fsutil"
)

// cleanups is a stack of undo functions run in reverse order when an operation fails.
type cleanups []func()

func (c *cleanups) push(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validateSpec(cs ContainerSpec) error {
	bad := func(field, why string) error {
		return fmt.Errorf("container %q: %s %s: %w", cs.Name, field, why, errdefs.ErrInvalidArgument)
	}
	switch {
	case cs.PodID == "":
		return bad("pod id", "is empty")
	case cs.Name == "" || strings.ContainsAny(cs.Name, "/\x00"):
		return bad("metadata.name", "is empty or contains '/'")
	case cs.Image.ID == "":
		return bad("image id", "is empty")
	case cs.LogPath != "" && !path.IsAbs(cs.LogPath):
		return bad("log path", "must be absolute")
	case cs.LogDirectory != "" && (!path.IsAbs(cs.LogDirectory) || !strings.HasPrefix(path.Clean(cs.LogPath), path.Clean(cs.LogDirectory)+"/")):
		return bad("log path", fmt.Sprintf("%q must lie under the log directory %q", cs.LogPath, cs.LogDirectory))
	case cs.ID != "" && (len(cs.ID) > 128 || strings.ContainsAny(cs.ID, "/.\x00 ")):
		return bad("id", "is invalid")
	}
	for _, mt := range cs.Mounts {
		if _, err := cleanDest(mt.Destination); err != nil {
			return err
		}
		if mt.ImageID == "" && !path.IsAbs(mt.Source) {
			return bad("mount source "+mt.Source, "must be an absolute host path")
		}
		if mt.RecursiveReadOnly && (!mt.Readonly || mt.Propagation != PropagationPrivate) {
			return bad("mount "+mt.Destination, "recursive read-only needs readonly and private propagation")
		}
	}
	return nil
}

// Create creates a container (rootfs, spec, cgroup, init process waiting to be started) and
// returns its status (StateCreated). A name already used by another container of the pod
// (same Name and Attempt) fails with errdefs.ErrAlreadyExists naming the holder.
func (m *Manager) Create(ctx context.Context, cs ContainerSpec) (_ Status, retErr error) {
	if err := validateSpec(cs); err != nil {
		return Status{}, err
	}
	if cs.ID == "" {
		cs.ID = newID()
	}
	c, err := m.reserve(cs)
	if err != nil {
		return Status{}, err
	}
	defer c.op.Unlock()
	var undo cleanups
	undo.push(func() { _ = removeCtrDir(c.dir); m.forget(c) })
	defer func() {
		if retErr != nil {
			undo.run()
		}
	}()
	// The container dir holds the rootfs and image volumes: no other host user may reach them
	// (setuid binaries, planted files); a user-namespaced container's root passes through.
	if err := fsutil.PrivateDir(c.dir, rootHostID(cs.Pod.GIDMappings)); err != nil {
		return Status{}, err
	}
	if err := c.save(); err != nil {
		return Status{}, fmt.Errorf("record container %q: %w", cs.ID, err)
	}
	rootfs, err := m.mountRootfs(ctx, c, &undo)
	if err != nil {
		return Status{}, err
	}
	in, err := m.specInput(c, rootfs)
	if err != nil {
		return Status{}, err
	}
	if in.Spec.Mounts, err = m.mountImageVolumes(ctx, c, &undo); err != nil {
		return Status{}, err
	}
	spec, err := buildSpec(in)
	if err != nil {
		return Status{}, err
	}
	if err := prepareMountpoints(rootfs, spec.Mounts); err != nil {
		return Status{}, fmt.Errorf("container %q: %w", cs.ID, err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return Status{}, err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "config.json"), b, 0o600); err != nil {
		return Status{}, err
	}
	pid, err := m.monitorCreate(ctx, c, &undo)
	if err != nil {
		return Status{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.Phase, c.rec.Pid, c.rec.User, c.rec.Env, c.rec.Cwd = phaseCreated, pid, in.User, in.Env, in.Cwd
	if err := c.save(); err != nil {
		return Status{}, fmt.Errorf("record container %q: %w", cs.ID, err)
	}
	return c.status(), nil
}

// reserve registers the id and the name (pod, name, attempt) of a new container.
func (m *Manager) reserve(cs ContainerSpec) (*container, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := nameKey(cs.PodID, cs.Name, cs.Attempt)
	if holder, ok := m.names[k]; ok {
		return nil, fmt.Errorf("container name %q (attempt %d) in pod %q is reserved by container %q: %w",
			cs.Name, cs.Attempt, cs.PodID, holder, errdefs.ErrAlreadyExists)
	}
	if _, ok := m.ctrs[cs.ID]; ok {
		return nil, fmt.Errorf("container id %q: %w", cs.ID, errdefs.ErrAlreadyExists)
	}
	c := &container{id: cs.ID, dir: filepath.Join(m.ctrsDir(), cs.ID),
		rec: record{Spec: cs, Phase: phaseCreating, CreatedAt: time.Now()}}
	c.op.Lock()
	m.ctrs[cs.ID] = c
	m.names[k] = cs.ID
	return c, nil
}

// mountRootfs prepares the image rootfs and mounts it at <dir>/rootfs.
func (m *Manager) mountRootfs(ctx context.Context, c *container, undo *cleanups) (string, error) {
	mnt, err := m.rootfs.PrepareRootfs(ctx, c.id, c.rec.Spec.Image.ID)
	if err != nil {
		return "", fmt.Errorf("prepare rootfs of container %q: %w", c.id, err)
	}
	undo.push(func() { _ = m.rootfs.RemoveRootfs(context.Background(), c.id) })
	target := filepath.Join(c.dir, "rootfs")
	if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	if err := m.mountUserNSRootfs(c, mnt, target); err != nil {
		return "", fmt.Errorf("mount rootfs of container %q: %w", c.id, err)
	}
	undo.push(func() { _ = unmountRootfs(target) })
	return target, nil
}

// mountFS mounts m at target; "bind" mounts are recursive binds.
func mountFS(m Mount, target string) error {
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		switch o {
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
		default:
			data = append(data, o)
		}
	}
	if m.Type == "bind" {
		flags |= unix.MS_BIND
	}
	return unix.Mount(m.Source, target, m.Type, flags, strings.Join(data, ","))
}

// unmountRootfs unmounts target (every layer stacked on it) and removes the mount point;
// the rmdir fails if something is still mounted, so a later RemoveAll never reaches into a
// live rootfs.
func unmountRootfs(target string) error {
	for {
		err := unix.Unmount(target, unix.MNT_DETACH)
		if err != nil {
			break
		}
	}
	err := os.Remove(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// removeCtrDir removes a container directory, unless its rootfs or an image volume cannot
// be unmounted (RemoveAll must never reach into a live mount).
func removeCtrDir(dir string) error {
	if err := unmountAll(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountAll unmounts and removes the rootfs and image volume mount points of a container,
// then checks the mount table: nothing may stay mounted below dir.
func unmountAll(dir string) error {
	vols, _ := filepath.Glob(filepath.Join(dir, "vol-*"))
	for _, mp := range append(vols, filepath.Join(dir, "rootfs")) {
		if err := unmountRootfs(mp); err != nil {
			return fmt.Errorf("%s still mounted, directory kept: %w", mp, err)
		}
	}
	left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	for _, mi := range left {
		if err := unix.Unmount(mi.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%s still mounted, directory kept: %w", mi.Mountpoint, err)
		}
	}
	return nil
}

func volumeKey(id string, i int) string { return fmt.Sprintf("%s-vol-%d", id, i) }

// mountImageVolumes mounts the image of every image volume at <dir>/vol-<i> and returns the
// mounts with those directories as (read-only) sources.
func (m *Manager) mountImageVolumes(ctx context.Context, c *container, undo *cleanups) ([]ContainerMount, error) {
	out := slices.Clone(c.rec.Spec.Mounts)
	for i := range out {
		if out[i].ImageID == "" {
			continue
		}
		key := volumeKey(c.id, i)
		mnt, err := m.rootfs.PrepareRootfs(ctx, key, out[i].ImageID)
		if err != nil {
			return nil, fmt.Errorf("prepare image volume %q of container %q: %w", out[i].Destination, c.id, err)
		}
		undo.push(func() { _ = m.rootfs.RemoveRootfs(context.Background(), key) })
		target := filepath.Join(c.dir, fmt.Sprintf("vol-%d", i))
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if err := mountFS(mnt, target); err != nil {
			return nil, fmt.Errorf("mount image volume %q of container %q: %w", out[i].Destination, c.id, err)
		}
		undo.push(func() { _ = unmountRootfs(target) })
		out[i].Source, out[i].Readonly = target, true
	}
	return out, nil
}
