// Package cri adapts the CRI v1 gRPC API (k8s.io/cri-api) to crishim's domain packages. It is
// the only package that imports the CRI types. Handlers are thin: validate, convert, call the
// domain, convert back. Error kinds are mapped to gRPC codes once, in the interceptor.
package cri

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"

	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/netstats"
	"github.com/crishim/crishim/sandbox"
)

// NetworkStatus reports whether the pod network is usable; nil means ready.
type NetworkStatus interface {
	Status(ctx context.Context) error
}

// Options holds what the CRI server is built from. Domain services are added here as they
// land; a nil service makes its RPCs answer Unimplemented.
type Options struct {
	// Log is the daemon logger; the interceptor derives a per-request logger from it.
	Log *slog.Logger
	// Version is the runtime version reported by Version (from build info).
	Version string
	// CgroupDriver is "cgroupfs" (the only driver so far).
	CgroupDriver string
	// Network reports network readiness; nil means no pod network is configured.
	Network NetworkStatus
	// PodCIDR takes the node's pod CIDR (UpdateRuntimeConfig); nil answers Unimplemented for
	// a non-empty CIDR.
	PodCIDR PodCIDRUpdater
	// Sandboxes manages pod sandboxes; nil makes the pod RPCs answer Unimplemented.
	Sandboxes *sandbox.Manager
	// Images is the image store and puller; nil makes the image RPCs answer Unimplemented.
	Images *images.Service
	// Info is extra, static information returned by a verbose Status (config, paths).
	Info map[string]any

	// Containers runs containers (*runtime.Manager); nil makes the container RPCs answer
	// Unimplemented.
	Containers ContainerRuntime
	// PodLookup finds pod sandboxes for CreateContainer; nil = Sandboxes. Tests set a fake.
	PodLookup SandboxLookup
	// ImageResolver finds local images for CreateContainer and ContainerStatus.
	ImageResolver ImageResolver
	// PortDialer connects port forwards inside pods; nil = Sandboxes.
	PortDialer PortDialer
	// WritableLayerMountpoint is reported as the filesystem of container writable layers in
	// stats (the container filesystem of ImageFsInfo); "" leaves it out.
	WritableLayerMountpoint string
	// Cgroups reads pod cgroups for the pod stats; nil = this host's cgroup hierarchy.
	Cgroups CgroupReader
	// NetnsStats reads the interface counters of a pinned netns; nil = netlink (netstats.Read).
	NetnsStats func(nsPath string) ([]netstats.Interface, error)
}

// Server implements runtimeapi.RuntimeServiceServer and runtimeapi.ImageServiceServer.
// RPCs not built yet fall through to the embedded Unimplemented servers, which answer
// codes.Unimplemented naming the method.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	opts    Options
	log     *slog.Logger
	creates *createTracker
	events  *eventBroker
	pods    podStatsDeps

	streamMu sync.Mutex
	stream   streaming.Server // nil until StartStreaming
}

// NewServer returns a CRI server over the given services.
func NewServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.CgroupDriver == "" {
		opts.CgroupDriver = "cgroupfs"
	}
	if opts.PodLookup == nil && opts.Sandboxes != nil {
		opts.PodLookup = opts.Sandboxes
	}
	if opts.PortDialer == nil && opts.Sandboxes != nil {
		opts.PortDialer = opts.Sandboxes
	}
	s := &Server{opts: opts, log: opts.Log, creates: newCreateTracker(), events: newEventBroker(), pods: newPodStatsDeps(opts)}
	if n, ok := opts.Containers.(exitNotifier); ok {
		n.OnExit(s.onContainerExit)
	}
	return s
}

// Register registers both CRI services on g.
func (s *Server) Register(g *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
}

// logger returns the request-scoped logger.
func (s *Server) logger(ctx context.Context) *slog.Logger { return Logger(ctx, s.log) }
