package images

import "github.com/crishim/crishim/images/snapshot"

// Image is an image in the store.
type Image struct {
	// ID is "sha256:<config digest>".
	ID string `json:"id"`
	// RepoTags are the normalized tag references ("docker.io/library/busybox:latest").
	RepoTags []string `json:"repo_tags"`
	// RepoDigests are digest references ("docker.io/library/busybox@sha256:…").
	RepoDigests []string `json:"repo_digests"`
	// Size is the compressed size of the image's blobs in bytes.
	Size uint64 `json:"size"`
	// Pinned images are never garbage collected by kubelet.
	Pinned bool `json:"pinned"`
	// Config is what container creation needs from the image configuration.
	Config ImageConfig `json:"config"`
}

// ImageConfig is the runtime part of an OCI image configuration.
type ImageConfig struct {
	// User is "user[:group]" by name or number, possibly empty.
	User string `json:"user,omitempty"`
	// Env is KEY=value pairs.
	Env []string `json:"env,omitempty"`
	// Entrypoint is the default entrypoint.
	Entrypoint []string `json:"entrypoint,omitempty"`
	// Cmd is the default command (arguments of the entrypoint).
	Cmd []string `json:"cmd,omitempty"`
	// WorkingDir is the default working directory.
	WorkingDir string `json:"working_dir,omitempty"`
	// StopSignal is the signal name or number that stops the container ("SIGTERM" if empty).
	StopSignal string `json:"stop_signal,omitempty"`
	// Volumes are the declared volume paths.
	Volumes []string `json:"volumes,omitempty"`
	// ExposedPorts are "port/proto" entries.
	ExposedPorts []string `json:"exposed_ports,omitempty"`
	// Labels are the image labels.
	Labels map[string]string `json:"labels,omitempty"`
	// OS and Architecture describe the image platform.
	OS string `json:"os,omitempty"`
	// Architecture is the CPU architecture of the image.
	Architecture string `json:"architecture,omitempty"`
}

// Auth is the credential of one pull, as passed by the caller.
type Auth struct {
	// Username and Password for basic or token auth.
	Username string
	// Password goes with Username.
	Password string
	// Auth is base64("username:password").
	Auth string
	// IdentityToken is a refresh token for the registry's token service.
	IdentityToken string
	// RegistryToken is a bearer token sent as is.
	RegistryToken string
}

func (a Auth) empty() bool {
	return a == Auth{}
}

// Mount describes an overlay mount for a container rootfs; the runtime performs it.
type Mount = snapshot.Mount

// FsUsage is the usage of one filesystem area of the store.
type FsUsage struct {
	// Mountpoint is the directory whose usage is reported.
	Mountpoint string
	// UsedBytes is the allocated size of everything under it.
	UsedBytes uint64
	// InodesUsed is the number of inodes under it.
	InodesUsed uint64
}

// record is an image as persisted: the public part plus what GC and rootfs need.
type record struct {
	Image
	// Manifests are the digests of the manifest (and index) blobs of the image.
	Manifests []string `json:"manifests"`
	// Layers are the layer blob digests, base first.
	Layers []string `json:"layers"`
	// DiffIDs are the uncompressed layer digests, base first.
	DiffIDs []string `json:"diff_ids"`
	// Chain are the chain IDs of the layers, base first.
	Chain []string `json:"chain"`
}
