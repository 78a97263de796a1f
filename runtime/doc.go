// Package runtime runs containers on runc's libcontainer. A CRI-independent ContainerSpec
// becomes an OCI runtime spec (buildSpec), which a per-pod monitor process turns into a
// libcontainer container (specconv) and owns: it is the parent of every container init of
// its pod, writes the CRI log files and records exit codes in files that survive daemon
// restarts.
//
// # Processes and files
//
// The Manager (in the daemon) keeps one record per container in
// <rootDir>/containers/<id>/record.json, written before each side effect; the same
// directory holds config.json (the OCI spec), exit.json (written by the monitor) and the
// rootfs mount point. Under stateDir: lc/ (libcontainer state, shared by daemon and
// monitors), monitors/<pod>/monitor.log and s/<hash> (the monitor's control socket).
//
// The monitor is "<exe> monitor --socket … --root … --pod … --ready-fd 3" (exe =
// Config.MonitorPath or the daemon's own executable): main must call
// MonitorMain(os.Args[2:]) when os.Args[1] == MonitorSubcommand, after the usual
// libcontainer.Init() check for "init". It runs setsid, survives the daemon, and exits
// when RemovePodContainers tells it to.
//
// # Notes for the cri layer
//
//   - Image defaults go in ContainerSpec.Image.Config; the runtime merges them
//     (Kubernetes rules). Image.ID is the key for Rootfs.PrepareRootfs.
//   - Pod fields come from the sandbox record (PodSpec); PIDModeTarget takes a container id.
//   - Seccomp: CRI "RuntimeDefault" (also an empty SecurityProfile) → SeccompRuntimeDefault,
//     nil profile or Unconfined → SeccompUnconfined, Localhost → SeccompLocalhost + path.
//   - MaskedPaths/ReadonlyPaths: nil keeps the defaults, a non-nil empty slice means none.
//   - Stop and Remove of an unknown id succeed; Status/ExecSync of one fail with
//     errdefs.ErrNotFound; ExecSync/ReopenLog of a container that does not run fail with
//     ErrFailedPrecondition; an ExecSync timeout wraps ErrDeadlineExceeded (the output so far
//     and the exit code are returned too).
//   - A second Create with the same (PodID, Name, Attempt) fails with ErrAlreadyExists and
//     names the holder; a Create still running holds the name until it finishes or fails.
//   - Status.StartedAt is zero for a container killed before it started; Reason is set once
//     it exited (Completed, Error, OOMKilled).
//   - User namespaces: give PodSpec.UIDMappings/GIDMappings, and PodSpec.UserNSPath when the
//     sandbox pinned a user namespace that owns the pod's net/ipc/uts namespaces (full
//     support; the overlay rootfs is then idmapped so the container's root owns it). Without
//     UserNSPath each container gets its own user namespace, /sys is the
//     host's (read-only bind) and /dev/mqueue is absent. Every parent of the runtime root dir
//     must be searchable by others (0711), as for containerd; each container's dir (rootfs,
//     image volumes) is root:root 0700, or 0710 with the group of the host gid mapped to the
//     container's gid 0, so other host users never reach a container's files.
//   - Stats and UpdateResources work on running containers; Stats of a stopped one is zero.
package runtime
