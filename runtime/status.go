package runtime

import (
	"context"
	"io"
	"time"
)

// State is the lifecycle state of a container.
type State string

// Container states (CRI ContainerState).
const (
	StateCreated State = "CREATED"
	StateRunning State = "RUNNING"
	StateExited  State = "EXITED"
	StateUnknown State = "UNKNOWN"
)

// Exit reasons reported in Status.Reason once a container has exited.
const (
	ReasonCompleted = "Completed" // exit code 0
	ReasonError     = "Error"     // non-zero exit code
	ReasonOOMKilled = "OOMKilled" // killed by the cgroup OOM killer
)

// User is the effective identity of a container's init process.
type User struct {
	UID                uint32
	GID                uint32
	SupplementalGroups []uint32
}

// Status is a snapshot of a container, safe to keep and read (a copy).
type Status struct {
	ID          string
	PodID       string
	Name        string
	Attempt     uint32
	Labels      map[string]string
	Annotations map[string]string
	Image       Image
	// State and times; zero times mean "not yet".
	State      State
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// ExitCode, Reason and Message are set once the container has exited.
	ExitCode int32
	Reason   string
	Message  string
	// Pid is the host pid of the init process while it runs (0 otherwise).
	Pid int
	// LogPath is the absolute CRI log file path ("" = none).
	LogPath string
	// User is the effective identity (after run_as_* / image user / group resolution).
	User User
	// Resources are the limits currently applied.
	Resources Resources
	// Mounts are the mounts requested at create.
	Mounts []ContainerMount
	// TTY / Stdin / StdinOnce as created.
	TTY, Stdin, StdinOnce bool
	// RequestHash is ContainerSpec.RequestHash as created.
	RequestHash string
}

// TermSize is a terminal size for Exec and Attach with a TTY.
type TermSize struct {
	Width, Height uint16
}

// ExecOptions describe an interactive exec session (Exec).
type ExecOptions struct {
	Cmd    []string
	TTY    bool
	Stdin  io.Reader // nil = no stdin
	Stdout io.Writer // nil = discard
	Stderr io.Writer // nil = discard (ignored with TTY)
	Resize <-chan TermSize
}

// AttachOptions describe an attach session to a running container's stdio.
type AttachOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	Resize <-chan TermSize
}

// Stats are the resource usage figures of a container (see Manager.Stats).
type Stats struct {
	Timestamp     time.Time
	CPUUsageNanos uint64
	// CPUNanoCores is the CPU rate since the previous Stats call for the container; valid
	// only when CPUNanoCoresValid (not on the first call).
	CPUNanoCores      uint64
	CPUNanoCoresValid bool
	// MemoryWorkingSet is usage minus inactive file pages (v1 total_inactive_file, v2
	// inactive_file): what kubelet evicts on.
	MemoryWorkingSet  uint64
	MemoryUsage       uint64
	MemoryRSS         uint64
	MemoryPageFaults  uint64
	MemoryMajorFaults uint64
	MemorySwap        uint64
	MemoryLimit       uint64 // 0 = unlimited
	OOMKills          uint64
	// WritableLayerBytes and WritableLayerInodes measure the container's upper dir; valid
	// only when WritableLayerValid (the Rootfs implements RootfsUsage).
	WritableLayerBytes  uint64
	WritableLayerInodes uint64
	WritableLayerValid  bool
	Pids                uint64
}

// Rootfs prepares and removes container root filesystems (implemented by images).
type Rootfs interface {
	PrepareRootfs(ctx context.Context, key, imageID string) (Mount, error)
	RemoveRootfs(ctx context.Context, key string) error
}

// Mount is a filesystem mount returned by Rootfs (usually an overlay).
type Mount struct {
	Type    string
	Source  string
	Options []string
}
