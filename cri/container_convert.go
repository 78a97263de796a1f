package cri

import (
	"maps"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
)

// stateToCRI maps a runtime state to the CRI enum.
func stateToCRI(s runtime.State) runtimeapi.ContainerState {
	switch s {
	case runtime.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case runtime.StateRunning:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case runtime.StateExited:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	default:
		return runtimeapi.ContainerState_CONTAINER_UNKNOWN
	}
}

// unixNanos returns t in nanoseconds, 0 for the zero time ("not yet").
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func metadataToCRI(st runtime.Status) *runtimeapi.ContainerMetadata {
	return &runtimeapi.ContainerMetadata{Name: st.Name, Attempt: st.Attempt}
}

// containerToCRI is the ListContainers view of a container. imageRef is the image's
// repo digest, else its id.
func containerToCRI(st runtime.Status, imageRef string) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id:           st.ID,
		PodSandboxId: st.PodID,
		Metadata:     metadataToCRI(st),
		Image:        &runtimeapi.ImageSpec{Image: st.Image.Ref},
		ImageRef:     imageRef,
		ImageId:      st.Image.ID,
		State:        stateToCRI(st.State),
		CreatedAt:    unixNanos(st.CreatedAt),
		Labels:       maps.Clone(st.Labels),
		Annotations:  maps.Clone(st.Annotations),
	}
}

// containerStatusToCRI is the ContainerStatus view of a container.
func containerStatusToCRI(st runtime.Status, imageRef string) *runtimeapi.ContainerStatus {
	cs := &runtimeapi.ContainerStatus{
		Id:          st.ID,
		Metadata:    metadataToCRI(st),
		State:       stateToCRI(st.State),
		CreatedAt:   unixNanos(st.CreatedAt),
		StartedAt:   unixNanos(st.StartedAt),
		FinishedAt:  unixNanos(st.FinishedAt),
		ExitCode:    st.ExitCode,
		Image:       &runtimeapi.ImageSpec{Image: st.Image.Ref},
		ImageRef:    imageRef,
		ImageId:     st.Image.ID,
		Reason:      st.Reason,
		Message:     st.Message,
		Labels:      maps.Clone(st.Labels),
		Annotations: maps.Clone(st.Annotations),
		Mounts:      mountsToCRI(st.Mounts),
		LogPath:     st.LogPath,
		Resources:   resourcesToCRI(st.Resources),
		User:        userToCRI(st.User),
	}
	if st.State == runtime.StateExited && cs.Reason == "" {
		cs.Reason = runtime.ReasonCompleted
		if st.ExitCode != 0 {
			cs.Reason = runtime.ReasonError
		}
	}
	return cs
}

// userToCRI reports the effective identity of the container process.
func userToCRI(u runtime.User) *runtimeapi.ContainerUser {
	groups := make([]int64, len(u.SupplementalGroups))
	for i, g := range u.SupplementalGroups {
		groups[i] = int64(g)
	}
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
		Uid:                int64(u.UID),
		Gid:                int64(u.GID),
		SupplementalGroups: groups,
	}}
}
