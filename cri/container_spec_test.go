package cri

import (
	"errors"
	"math"
	"reflect"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/runtime"
	"github.com/crishim/crishim/sandbox"
)

func testBuilder(pod sandbox.Sandbox) specBuilder {
	imgs := testImages()
	return specBuilder{pod: pod, image: imgs["busybox:1.36"], imageRef: "busybox:1.36",
		resolveImage: func(ref string) (ImageInfo, error) { return imgs.ResolveImage(nil, ref) }}
}

func baseConfig() *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c", Attempt: 2},
		Image:    &runtimeapi.ImageSpec{Image: "busybox:1.36"},
	}
}

func TestBuildSpecBasics(t *testing.T) {
	cfg := baseConfig()
	cfg.Command, cfg.Args, cfg.WorkingDir = []string{"/bin/sh"}, []string{"-c", "true"}, "/work"
	cfg.Envs = []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}, {Key: "B", Value: []byte("x=y")}}
	cfg.Tty, cfg.Stdin, cfg.StdinOnce = true, true, true
	cfg.LogPath = "c/0.log"
	cfg.Labels = map[string]string{"l": "1"}
	cfg.Annotations = map[string]string{"a": "2"}
	cfg.StopSignal = runtimeapi.Signal_SIGNAL_SIGUSR1
	spec, err := testBuilder(testPod()).build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.ContainerSpec{
		PodID: "pod1", Name: "c", Attempt: 2, Labels: cfg.Labels, Annotations: cfg.Annotations,
		Image:   runtime.Image{Ref: "busybox:1.36", ID: busyboxID, Config: runtime.ImageConfig{Entrypoint: []string{"sh"}, StopSignal: "SIGQUIT"}},
		Command: []string{"/bin/sh"}, Args: []string{"-c", "true"}, Env: []string{"A=1", "B=x=y"}, WorkingDir: "/work",
		Mounts: []runtime.ContainerMount{}, Devices: []runtime.Device{},
		TTY: true, Stdin: true, StdinOnce: true, LogPath: "/var/log/pods/p1/c/0.log", LogDirectory: "/var/log/pods/p1",
		StopSignal: syscall.SIGUSR1,
		Pod: runtime.PodSpec{
			NetNSPath: "/run/crishim/ns/net-pod1", IPCNSPath: "/run/crishim/ns/ipc-pod1", UTSNSPath: "/run/crishim/ns/uts-pod1",
			PIDMode: runtime.PIDModePod, PIDNSPath: "/proc/77/ns/pid", CgroupParent: "/crishim/pod-pod1",
			HostsPath: "/run/p/hosts", ResolvPath: "/run/p/resolv.conf", HostnamePath: "/run/p/hostname", ShmPath: "/run/p/shm",
			Hostname: "p", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec =\n%+v\nwant\n%+v", spec, want)
	}
}

func TestLogPath(t *testing.T) {
	cases := []struct {
		dir, rel, want string
		bad            bool
	}{
		{"/logs", "c.log", "/logs/c.log", false},
		{"", "c.log", "", false},
		{"/logs", "", "", false},
		{"/logs", "../escape.log", "", true},
		{"/logs", "/abs.log", "", true},
		{"/logs", "a/../../b", "", true},
	}
	for _, c := range cases {
		got, err := logPath(c.dir, c.rel)
		if got != c.want || (err != nil) != c.bad {
			t.Errorf("logPath(%q, %q) = %q, %v", c.dir, c.rel, got, err)
		}
	}
}

func TestSignals(t *testing.T) {
	cases := map[runtimeapi.Signal]syscall.Signal{
		runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT: 0,
		runtimeapi.Signal_SIGNAL_SIGTERM:         syscall.SIGTERM,
		runtimeapi.Signal_SIGNAL_SIGKILL:         syscall.SIGKILL,
		runtimeapi.Signal_SIGNAL_SIGWINCH:        syscall.SIGWINCH,
		runtimeapi.Signal_SIGNAL_SIGCLD:          syscall.SIGCHLD,
		runtimeapi.Signal_SIGNAL_SIGIOT:          syscall.SIGABRT,
		runtimeapi.Signal_SIGNAL_SIGRTMIN:        34,
		runtimeapi.Signal_SIGNAL_SIGRTMINPLUS3:   37,
		runtimeapi.Signal_SIGNAL_SIGRTMAXMINUS1:  63,
		runtimeapi.Signal_SIGNAL_SIGRTMAX:        64,
	}
	for in, want := range cases {
		got, err := signalFromCRI(in)
		if err != nil || got != want {
			t.Errorf("signalFromCRI(%v) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := signalFromCRI(runtimeapi.Signal(999)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown signal: %v", err)
	}
}

func TestBuildSpecRejects(t *testing.T) {
	cases := map[string]func(*runtimeapi.ContainerConfig){
		"envs[0].key":     func(c *runtimeapi.ContainerConfig) { c.Envs = []*runtimeapi.KeyValue{{Key: ""}} },
		"log_path":        func(c *runtimeapi.ContainerConfig) { c.LogPath = "../x" },
		"CDI_devices":     func(c *runtimeapi.ContainerConfig) { c.CDIDevices = []*runtimeapi.CDIDevice{{Name: "x"}} },
		"devices[0].host": func(c *runtimeapi.ContainerConfig) { c.Devices = []*runtimeapi.Device{{HostPath: "dev/null"}} },
		"devices[0].perm": func(c *runtimeapi.ContainerConfig) {
			c.Devices = []*runtimeapi.Device{{HostPath: "/dev/null", Permissions: "rx"}}
		},
		"resources.cpu_shares": func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{CpuShares: -1}}
		},
		"resources.oom_score_adj": func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{OomScoreAdj: 1001}}
		},
		"resources.cpu_quota": func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{CpuQuota: -2}}
		},
	}
	for name, mutate := range cases {
		cfg := baseConfig()
		mutate(cfg)
		_, err := testBuilder(testPod()).build(cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
}

func TestResources(t *testing.T) {
	in := &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 1 << 30,
		OomScoreAdj: 500, CpusetCpus: "0-1", CpusetMems: "0", MemorySwapLimitInBytes: 2 << 30,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}},
		Unified:        map[string]string{"memory.high": "1G"},
	}
	r, err := resourcesFromCRI(in)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, CpusetCpus: "0-1", CpusetMems: "0",
		MemoryLimitInBytes: 1 << 30, MemorySwapLimitInBytes: 2 << 30, HugepageLimits: []runtime.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}},
		Unified: map[string]string{"memory.high": "1G"}, OOMScoreAdj: 500}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("resources = %+v", r)
	}
	back := resourcesToCRI(r).GetLinux()
	if !proto.Equal(back, in) {
		t.Errorf("round trip:\n%v\n%v", back, in)
	}
}

func TestSecondsAndDisplayRef(t *testing.T) {
	for in, want := range map[int64]time.Duration{-5: 0, 0: 0, 7: 7 * time.Second, math.MaxInt64: time.Duration(math.MaxInt64/int64(time.Second)) * time.Second} {
		if got := seconds(in); got != want || got < 0 {
			t.Errorf("seconds(%d) = %v, want %v", in, got, want)
		}
	}
	img := ImageInfo{ID: busyboxID, RepoTags: []string{"docker.io/library/busybox:1.36"}}
	for ref, want := range map[string]string{
		"busybox:1.36":  "busybox:1.36",
		busyboxID:       "docker.io/library/busybox:1.36",
		busyboxID[7:19]: "docker.io/library/busybox:1.36",
	} {
		if got := displayRef(ref, img); got != want {
			t.Errorf("displayRef(%q) = %q, want %q", ref, got, want)
		}
	}
	if got := displayRef(busyboxID, ImageInfo{ID: busyboxID}); got != busyboxID {
		t.Errorf("untagged image by id: %q", got)
	}
}
