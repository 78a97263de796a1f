package cri

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
)

// mounts converts the CRI mounts, resolving image volumes (Mount.image) to local images.
// selinux_relabel is ignored (no SELinux here).
func (b specBuilder) mounts(ms []*runtimeapi.Mount) ([]runtime.ContainerMount, error) {
	out := make([]runtime.ContainerMount, 0, len(ms))
	for i, m := range ms {
		field := fmt.Sprintf("mounts[%d]", i)
		cm, err := mountFromCRI(field, m)
		if err != nil {
			return nil, err
		}
		if ref := m.GetImage().GetImage(); ref != "" {
			if m.GetImageSubPath() != "" {
				return nil, fmt.Errorf("%s.image_sub_path %q: image volume sub paths are not supported: %w", field, m.GetImageSubPath(), errdefs.ErrNotImplemented)
			}
			img, err := b.resolveImage(ref)
			if err != nil {
				return nil, fmt.Errorf("%s.image: %w", field, err)
			}
			cm.ImageID, cm.ImageRef, cm.Source = img.ID, ref, ""
			cm.Readonly = true
		} else if !filepath.IsAbs(m.GetHostPath()) {
			return nil, fmt.Errorf("%s.host_path %q: must be an absolute path: %w", field, m.GetHostPath(), errdefs.ErrInvalidArgument)
		} else if err := hostPathExists(field, m.GetHostPath()); err != nil {
			return nil, err
		}
		out = append(out, cm)
	}
	return out, nil
}

// hostPathExists refuses a bind mount whose source is missing before anything is created
// (the monitor would otherwise fail the start with an Internal error). kubelet creates the
// paths it mounts before CreateContainer, so a missing one is a caller's mistake; crishim
// does not create it (containerd and CRI-O by default make an empty directory, which hides
// the mistake and leaves root-owned directories on the host; CRI-O's
// absent_mount_sources_to_reject refuses instead, as crishim always does).
func hostPathExists(field, p string) error {
	_, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s.host_path %q: does not exist on the host: %w", field, p, errdefs.ErrInvalidArgument)
	}
	return nil // other errors (permissions, …) are the runtime's to report when it mounts
}

// mountFromCRI converts one mount without its source checks.
func mountFromCRI(field string, m *runtimeapi.Mount) (runtime.ContainerMount, error) {
	cm := runtime.ContainerMount{
		Source:            m.GetHostPath(),
		Destination:       m.GetContainerPath(),
		Readonly:          m.GetReadonly(),
		RecursiveReadOnly: m.GetRecursiveReadOnly(),
		UIDMappings:       idMappingsFromCRI(m.GetUidMappings()),
		GIDMappings:       idMappingsFromCRI(m.GetGidMappings()),
	}
	if !filepath.IsAbs(cm.Destination) {
		return cm, fmt.Errorf("%s.container_path %q: must be an absolute path: %w", field, cm.Destination, errdefs.ErrInvalidArgument)
	}
	if len(m.GetMountOptions()) > 0 {
		return cm, fmt.Errorf("%s.mount_options %q: extra mount options are not supported: %w", field, m.GetMountOptions(), errdefs.ErrNotImplemented)
	}
	if (len(cm.UIDMappings) == 0) != (len(cm.GIDMappings) == 0) {
		return cm, fmt.Errorf("%s: uidMappings and gidMappings must be given together: %w", field, errdefs.ErrInvalidArgument)
	}
	switch m.GetPropagation() {
	case runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		cm.Propagation = runtime.PropagationPrivate
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		cm.Propagation = runtime.PropagationHostToContainer
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		cm.Propagation = runtime.PropagationBidirectional
	default:
		return cm, fmt.Errorf("%s.propagation %v: unknown propagation: %w", field, m.GetPropagation(), errdefs.ErrInvalidArgument)
	}
	if cm.RecursiveReadOnly {
		if !cm.Readonly {
			return cm, fmt.Errorf("%s.recursive_read_only: requires readonly: %w", field, errdefs.ErrInvalidArgument)
		}
		if cm.Propagation != runtime.PropagationPrivate {
			return cm, fmt.Errorf("%s.recursive_read_only: requires private propagation, got %v: %w", field, m.GetPropagation(), errdefs.ErrInvalidArgument)
		}
	}
	return cm, nil
}

func idMappingsFromCRI(ms []*runtimeapi.IDMapping) []runtime.IDMapping {
	if len(ms) == 0 {
		return nil
	}
	out := make([]runtime.IDMapping, len(ms))
	for i, m := range ms {
		out[i] = runtime.IDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()}
	}
	return out
}

func idMappingsToCRI(ms []runtime.IDMapping) []*runtimeapi.IDMapping {
	if len(ms) == 0 {
		return nil
	}
	out := make([]*runtimeapi.IDMapping, len(ms))
	for i, m := range ms {
		out[i] = &runtimeapi.IDMapping{ContainerId: m.ContainerID, HostId: m.HostID, Length: m.Size}
	}
	return out
}

// mountsToCRI reports the mounts of a container in ContainerStatus.
func mountsToCRI(ms []runtime.ContainerMount) []*runtimeapi.Mount {
	out := make([]*runtimeapi.Mount, 0, len(ms))
	for _, m := range ms {
		cm := &runtimeapi.Mount{
			ContainerPath:     m.Destination,
			HostPath:          m.Source,
			Readonly:          m.Readonly,
			RecursiveReadOnly: m.RecursiveReadOnly,
			UidMappings:       idMappingsToCRI(m.UIDMappings),
			GidMappings:       idMappingsToCRI(m.GIDMappings),
		}
		switch m.Propagation {
		case runtime.PropagationHostToContainer:
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case runtime.PropagationBidirectional:
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		if m.ImageRef != "" {
			cm.Image = &runtimeapi.ImageSpec{Image: m.ImageRef}
		}
		out = append(out, cm)
	}
	return out
}

// devicesFromCRI converts host devices; the container path defaults to the host path.
func devicesFromCRI(ds []*runtimeapi.Device) ([]runtime.Device, error) {
	out := make([]runtime.Device, 0, len(ds))
	for i, d := range ds {
		dev := runtime.Device{HostPath: d.GetHostPath(), ContainerPath: d.GetContainerPath(), Permissions: d.GetPermissions()}
		if !filepath.IsAbs(dev.HostPath) {
			return nil, fmt.Errorf("devices[%d].host_path %q: must be an absolute path: %w", i, dev.HostPath, errdefs.ErrInvalidArgument)
		}
		if dev.ContainerPath == "" {
			dev.ContainerPath = dev.HostPath
		}
		if !filepath.IsAbs(dev.ContainerPath) {
			return nil, fmt.Errorf("devices[%d].container_path %q: must be an absolute path: %w", i, dev.ContainerPath, errdefs.ErrInvalidArgument)
		}
		for _, c := range dev.Permissions {
			if c != 'r' && c != 'w' && c != 'm' {
				return nil, fmt.Errorf("devices[%d].permissions %q: only r, w and m are allowed: %w", i, dev.Permissions, errdefs.ErrInvalidArgument)
			}
		}
		out = append(out, dev)
	}
	return out, nil
}
