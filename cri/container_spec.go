package cri

import (
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

// specBuilder turns a CRI ContainerConfig into a runtime.ContainerSpec, given the pod record
// and the resolved image. resolveImage resolves image volumes (Mount.image).
type specBuilder struct {
	pod          sandbox.Sandbox
	image        ImageInfo
	imageRef     string
	resolveImage func(ref string) (ImageInfo, error)
}

// build converts cfg. Every error wraps errdefs.ErrInvalidArgument (or the resolver's kind)
// and names the offending field.
func (b specBuilder) build(cfg *runtimeapi.ContainerConfig) (runtime.ContainerSpec, error) {
	md := cfg.GetMetadata()
	spec := runtime.ContainerSpec{
		PodID:       b.pod.ID,
		Name:        md.GetName(),
		Attempt:     md.GetAttempt(),
		Labels:      maps.Clone(cfg.GetLabels()),
		Annotations: maps.Clone(cfg.GetAnnotations()),
		Image:       runtime.Image{Ref: b.imageRef, ID: b.image.ID, Config: b.image.Config},
		Command:     cfg.GetCommand(),
		Args:        cfg.GetArgs(),
		WorkingDir:  cfg.GetWorkingDir(),
		TTY:         cfg.GetTty(),
		Stdin:       cfg.GetStdin(),
		StdinOnce:   cfg.GetStdinOnce(),
	}
	var err error
	if spec.Env, err = envFromCRI(cfg.GetEnvs()); err != nil {
		return spec, err
	}
	if spec.LogPath, err = logPath(b.pod.LogDirectory, cfg.GetLogPath()); err != nil {
		return spec, err
	}
	if spec.LogPath != "" {
		spec.LogDirectory = b.pod.LogDirectory
	}
	if spec.StopSignal, err = signalFromCRI(cfg.GetStopSignal()); err != nil {
		return spec, err
	}
	if len(cfg.GetCDIDevices()) > 0 {
		return spec, fmt.Errorf("CDI_devices: CDI is not supported: %w", errdefs.ErrInvalidArgument)
	}
	if spec.Mounts, err = b.mounts(cfg.GetMounts()); err != nil {
		return spec, err
	}
	if spec.Devices, err = devicesFromCRI(cfg.GetDevices()); err != nil {
		return spec, err
	}
	lx := cfg.GetLinux()
	if spec.Security, err = securityFromCRI(lx.GetSecurityContext(), b.pod); err != nil {
		return spec, err
	}
	if spec.Resources, err = resourcesFromCRI(lx.GetResources()); err != nil {
		return spec, err
	}
	if spec.Pod, err = podSpec(b.pod, lx.GetSecurityContext().GetNamespaceOptions()); err != nil {
		return spec, err
	}
	return spec, nil
}

// envFromCRI turns the CRI key/value list into "K=V" entries, in order.
func envFromCRI(kvs []*runtimeapi.KeyValue) ([]string, error) {
	env := make([]string, 0, len(kvs))
	for i, kv := range kvs {
		if kv.GetKey() == "" || strings.Contains(kv.GetKey(), "=") {
			return nil, fmt.Errorf("envs[%d].key %q: must be non-empty and contain no '=': %w", i, kv.GetKey(), errdefs.ErrInvalidArgument)
		}
		env = append(env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	return env, nil
}

// logPath joins the pod log directory and the container's relative log path. Either empty
// means no log file. The result may not leave the log directory.
func logPath(dir, rel string) (string, error) {
	if dir == "" || rel == "" {
		return "", nil
	}
	clean := filepath.Clean(rel)
	if filepath.IsAbs(rel) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("log_path %q: must be a file path relative to the pod's log directory: %w", rel, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(dir, clean), nil
}

// signalFromCRI maps the CRI Signal enum (SIGNAL_SIGTERM, SIGNAL_SIGRTMINPLUS3 …) to a
// signal number; SIGNAL_RUNTIME_DEFAULT is 0 (image's or SIGTERM).
func signalFromCRI(s runtimeapi.Signal) (syscall.Signal, error) {
	if s == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return 0, nil
	}
	name, ok := runtimeapi.Signal_name[int32(s)]
	if ok {
		name = strings.TrimPrefix(name, "SIGNAL_")
		if n, found := signalNumber(name); found {
			return n, nil
		}
	}
	return 0, fmt.Errorf("stop_signal %v: unknown signal: %w", s, errdefs.ErrInvalidArgument)
}

// signalNumber resolves a signal name, including SIGRTMIN, SIGRTMINPLUSn, SIGRTMAXMINUSn and
// SIGRTMAX (Linux: 34 and 64).
func signalNumber(name string) (syscall.Signal, bool) {
	const rtmin, rtmax = 34, 64
	switch {
	case name == "SIGRTMIN":
		return rtmin, true
	case name == "SIGRTMAX":
		return rtmax, true
	case strings.HasPrefix(name, "SIGRTMINPLUS"):
		n, err := strconv.Atoi(strings.TrimPrefix(name, "SIGRTMINPLUS"))
		return syscall.Signal(rtmin + n), err == nil && rtmin+n <= rtmax
	case strings.HasPrefix(name, "SIGRTMAXMINUS"):
		n, err := strconv.Atoi(strings.TrimPrefix(name, "SIGRTMAXMINUS"))
		return syscall.Signal(rtmax - n), err == nil && rtmax-n >= rtmin
	}
	if alias, ok := map[string]string{"SIGCLD": "SIGCHLD", "SIGIOT": "SIGABRT", "SIGPOLL": "SIGIO"}[name]; ok {
		name = alias
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, true
	}
	return 0, false
}
